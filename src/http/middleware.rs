//! Per-request layers: the request id, and the access log entry of every `/v1`
//! request (the one place where the events of answers are composed).

use std::sync::{Arc, OnceLock};

use axum::body::HttpBody;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};

use super::AppState;
use super::error::{ApiError, Refused};
use crate::names::{ModelName, Namespace};
use crate::trail::{Context, Trail};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served (for error bodies and logs).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Accepts a caller's `X-Request-Id` when it is short and plain (so it can be used
/// for correlation), otherwise assigns one.
fn request_id_of(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

pub async fn request_context(req: Request, next: Next) -> Response {
    let id = request_id_of(&req);
    let api = req.uri().path().starts_with("/v1/");
    let oci = super::oci::is_oci(req.uri().path());
    let (method, began) = (req.method().clone(), std::time::Instant::now());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut resp = REQUEST_ID
        .scope(
            id.clone(),
            tracing::Instrument::instrument(next.run(req), span),
        )
        .await;
    let route = resp
        .extensions()
        .get::<RouteTemplate>()
        .map_or("other", |r| r.0.as_str());
    let (status, took) = (resp.status().as_u16(), began.elapsed());
    if crate::metrics::enabled() {
        crate::metrics::request(&method, route, status, took);
    }
    // One line per request: the route's template, never the path (which can
    // name what the caller may not see) or the query.
    let principal = resp.extensions().get::<Caller>().map(|c| c.0.as_str());
    tracing::info!(
        method = %method,
        route,
        status,
        duration_ms = took.as_secs_f64() * 1000.0,
        principal = principal.unwrap_or("-"),
        request_id = %id,
        "request"
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    if oci {
        h.insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
    }
    if api || oci {
        // API answers are data for programs: never sniffed into something a
        // browser runs, never kept by a cache (a minted token above all),
        // unless the handler said how long its answer may be kept (the
        // transparency log's tiles, which never change).
        h.insert(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.entry(axum::http::header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    resp
}

/// Opens the audit trail of every `/v1` request and, unless a change already
/// committed its event, writes the event of the answer before it leaves: a
/// download's event is in the log before its first byte, and when the log cannot
/// be written the request fails with 503 instead of answering (fail closed).
pub async fn audit_requests(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/v1/") && !super::oci::is_oci(path) && !super::console::is_page(path) {
        return next.run(req).await;
    }
    let trail = Trail::open(Context {
        request_id: current_request_id(),
        action: format!("{} (no route)", req.method()),
        resource: req.uri().path().to_owned(),
        client_addr: req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        success_status: 200,
        ..Default::default()
    });
    req.extensions_mut().insert(trail.clone());
    let mut resp = next.run(req).await;
    let mut ctx = trail.context();
    if let Some(p) = &ctx.principal {
        resp.extensions_mut().insert(Caller(p.clone()));
    }
    if trail.committed() {
        st.appender.kick();
        return resp;
    }
    let refused = resp.extensions().get::<Refused>();
    if resp.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
        let caller = ctx
            .principal
            .clone()
            .or(ctx.client_addr.clone())
            .unwrap_or_default();
        match st.refusals.admit(&caller) {
            None => return resp,
            Some(unwritten) => {
                ctx.detail
                    .insert("rate_limited_unlogged_before".into(), unwritten.into());
            }
        }
    }
    if ctx.namespace.is_none() {
        ctx.namespace = refused.and_then(|r| r.0.as_ref()).map(Namespace::to_string);
    }
    let event = ctx.event(
        resp.status().as_u16(),
        refused.is_some(),
        chrono::Utc::now(),
    );
    match st.appender.append(event).await {
        Ok(()) => resp,
        Err(e) => {
            tracing::error!(error = %e, "audit log write failed; request refused");
            ApiError::from(crate::error::Error::Unavailable(anyhow::anyhow!("audit")))
                .into_response()
        }
    }
}

/// Names the request's action after the route it matched (`PUT /v1/…/{path}`),
/// notes the status that route answers on success (which a committed change's
/// event records), and files the request under the namespace and model of its
/// path, so a refused attempt (even an unauthenticated one) is filed under what
/// it targeted.
pub async fn note_route(
    State(statuses): State<Arc<super::SuccessStatuses>>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let route = parts.extensions.get::<MatchedPath>().cloned();
    if let Some(trail) = parts.extensions.get::<Trail>().cloned() {
        if let Some(route) = parts.extensions.get::<MatchedPath>() {
            let status = statuses.of_route(&parts.method, route.as_str());
            let action = format!("{} {}", parts.method, route.as_str().replace("{*", "{"));
            trail.note(|c| {
                c.action = action;
                c.success_status = status;
            });
        }
        if let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await {
            let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
            if let Some(ns) = get("ns").and_then(|n| Namespace::parse(n).ok()) {
                let model = get("model").and_then(|m| ModelName::parse(m).ok());
                trail.note(|c| {
                    c.namespace = Some(ns.to_string());
                    if let Some(m) = model {
                        c.model = Some(format!("{ns}/{m}"));
                    }
                });
            }
        }
    }
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    if let Some(route) = route {
        resp.extensions_mut().insert(RouteTemplate(route));
    }
    resp
}

/// Who made the request, as the access log names them (for the request's log
/// line).
#[derive(Clone)]
struct Caller(String);

/// The route template an answer came from (for the request metrics).
#[derive(Clone)]
struct RouteTemplate(MatchedPath);

/// Marks the requests of a connection over its client address's bound.
#[derive(Debug, Clone, Copy)]
pub struct ExcessConnection;

/// Refuses every request of a connection over its address's bound, and closes
/// it; the refusal is audited like a rate limit's.
pub async fn refuse_excess(req: Request, next: Next) -> Response {
    if req.extensions().get::<ExcessConnection>().is_none() {
        return next.run(req).await;
    }
    let mut resp = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
        "this address has too many connections open; close one and try again",
    )
    .into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(1));
    h.insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    resp
}

/// Routes whose bodies or answers stream for as long as their bytes take: they
/// are bounded by the upload floor and by connection limits, not by a deadline.
fn streams(method: &axum::http::Method, route: &str) -> bool {
    use axum::http::Method;
    let files = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}";
    let uploads = "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}";
    let blobs = "/v2/{ns}/{model}/blobs/{digest}";
    (route == files && (method == Method::PUT || method == Method::GET))
        || (route == blobs && method == Method::GET)
        || (route == uploads && method == Method::PATCH)
        || (route == "/v1/audit/export" && method == Method::GET)
}

/// Bounds every request on a route that does not stream, its body included: past
/// the deadline the work is dropped (an open transaction rolls back) and the
/// answer is 408 when the body was still arriving, 503 otherwise.
pub async fn deadline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limit) = st.request_timeout else {
        return next.run(req).await;
    };
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
    if route.is_some_and(|r| streams(req.method(), r)) {
        return next.run(req).await;
    }
    let received = Arc::new(OnceLock::new());
    if req.body().is_end_stream() {
        let _ = received.set(());
    }
    let req = req.map(|body| {
        axum::body::Body::new(Watched {
            inner: body,
            received: received.clone(),
        })
    });
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) if received.get().is_none() => {
            let mut resp = ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs()
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
            resp
        }
        Err(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request did not complete within {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// A request body that notes when its last byte has arrived.
struct Watched {
    inner: axum::body::Body,
    /// Set once the last byte has arrived.
    received: Arc<OnceLock<()>>,
}

impl HttpBody for Watched {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            let _ = self.received.set(());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! Per-request layers: the request id, and the access log entry of every `/v1`
//! request (the one place where the events of answers are composed).

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut resp = REQUEST_ID
        .scope(
            id.clone(),
            tracing::Instrument::instrument(next.run(req), span),
        )
        .await;
    crate::metrics::record_status(resp.status().as_u16());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    if api {
        // API answers are data for programs: never sniffed into something a
        // browser runs, never kept by a cache (a minted token above all).
        h.insert(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    resp
}

/// Opens the audit trail of every `/v1` request and, unless a change already
/// committed its event, writes the event of the answer before it leaves: a
/// download's event is in the log before its first byte, and when the log cannot
/// be written the request fails with 503 instead of answering (fail closed).
pub async fn audit_requests(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v1/") {
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
    let resp = next.run(req).await;
    if trail.committed() {
        return resp;
    }
    let refused = resp.extensions().get::<Refused>();
    let mut ctx = trail.context();
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
pub async fn note_route(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Some(trail) = parts.extensions.get::<Trail>().cloned() {
        if let Some(route) = parts.extensions.get::<MatchedPath>() {
            let action = format!("{} {}", parts.method, route.as_str().replace("{*", "{"));
            let status = super::success_statuses()
                .get(&action)
                .copied()
                .unwrap_or(200);
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
    next.run(Request::from_parts(parts, body)).await
}

//! HTTP: routing, extractors, thin handlers and the one error → response mapping.
//!
//! Dependency rule: a handler extracts typed input, calls `auth::authorize`, calls
//! one `Registry` operation and shapes the answer. No SQL, no storage keys here.

mod audit;
pub mod error;
pub mod extract;
mod files;
mod keys;
mod lineage;
mod models;
mod namespaces;
mod service;
mod signing;
mod tokens;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Access;
use crate::registry::Registry;
use error::ApiError;

/// What every handler gets: the domain services. Nothing request-specific.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub access: Arc<Access>,
    pub audit: Arc<crate::audit::Appender>,
}

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

async fn request_context(req: Request, next: Next) -> Response {
    let id = request_id_of(&req);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut resp = REQUEST_ID
        .scope(
            id.clone(),
            tracing::Instrument::instrument(next.run(req), span),
        )
        .await;
    crate::metrics::record_status(resp.status().as_u16());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Writes the audit event of every `/v1` request that did not already commit it
/// with a change. It runs before the answer leaves, so a download's event is in
/// the log before its first byte, and when the log cannot be written the request
/// fails with 503 instead of answering (fail closed).
async fn audit_requests(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let ctx = crate::audit::Context {
        request_id: current_request_id(),
        action: format!("{} (no route)", req.method()),
        resource: req.uri().path().to_owned(),
        client_addr: req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        success_status: 200,
        ..Default::default()
    };
    let (resp, ctx) = crate::audit::scope(ctx, next.run(req)).await;
    if ctx.written {
        return resp;
    }
    let event = ctx.event(resp.status().as_u16(), chrono::Utc::now());
    match st.audit.append(event).await {
        Ok(()) => resp,
        Err(e) => {
            tracing::error!(error = %e, "audit log write failed; request refused");
            ApiError::from(crate::error::Error::Unavailable(anyhow::anyhow!("audit")))
                .into_response()
        }
    }
}

/// Names the request's action after the route it matched (`PUT /v1/…/{path}`) and
/// notes the status that route answers on success, which a committed change's
/// event records.
/// The namespace and model come from the path too, so a refused attempt (even an
/// unauthenticated one) is filed under what it targeted.
async fn note_route(req: Request, next: Next) -> Response {
    use axum::extract::{FromRequestParts, RawPathParams};
    let (mut parts, body) = req.into_parts();
    if let Some(route) = parts.extensions.get::<axum::extract::MatchedPath>() {
        let action = format!("{} {}", parts.method, route.as_str().replace("{*", "{"));
        let status = success_statuses().get(&action).copied().unwrap_or(200);
        crate::audit::note(|c| {
            c.action = action;
            c.success_status = status;
        });
    }
    if let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await {
        let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
        if let Some(ns) = get("ns").and_then(|n| crate::names::Namespace::parse(n).ok()) {
            let model = get("model").and_then(|m| crate::names::ModelName::parse(m).ok());
            crate::audit::note(|c| {
                c.namespace = Some(ns.to_string());
                if let Some(m) = model {
                    c.model = Some(format!("{ns}/{m}"));
                }
            });
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// `METHOD /path` → the first 2xx status its OpenAPI operation documents.
fn success_statuses() -> &'static std::collections::HashMap<String, u16> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<String, u16>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(&openapi().to_json().unwrap_or_default()).unwrap_or_default();
        let mut map = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let ok = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(code, _)| code.parse::<u16>().ok())
                    .filter(|c| (200..300).contains(c))
                    .min();
                if let Some(ok) = ok {
                    map.insert(format!("{} {}", method.to_uppercase(), path), ok);
                }
            }
        }
        map
    })
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Signet",
        description = "A signed model registry: versioned, content-hashed ML model artifacts with lineage.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "service", description = "Health, readiness, metrics"),
        (name = "identity", description = "Who am I"),
        (name = "namespaces", description = "Team boundaries"),
        (name = "models", description = "Models and their versions"),
        (name = "files", description = "Artifact bytes of a version"),
        (name = "signing", description = "Signatures and promotion (aliases)"),
        (name = "keys", description = "Trusted signing keys"),
        (name = "lineage", description = "Lineage queries and quarantines"),
        (name = "audit", description = "The access log"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(service::healthz))
        .routes(routes!(service::readyz))
        .routes(routes!(service::metrics))
        .routes(routes!(namespaces::whoami))
        .routes(routes!(namespaces::create, namespaces::list))
        .routes(routes!(namespaces::get))
        .routes(routes!(namespaces::list_members))
        .routes(routes!(namespaces::put_member, namespaces::delete_member))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(models::create_model, models::list_models))
        .routes(routes!(models::get_model))
        .routes(routes!(models::create_version, models::list_versions))
        .routes(routes!(models::get_version))
        .routes(routes!(models::seal))
        .routes(routes!(models::statement))
        .routes(routes!(
            files::put_file,
            files::get_file,
            files::delete_file
        ))
        .routes(routes!(signing::add_signature, signing::list_signatures))
        .routes(routes!(
            signing::put_alias,
            signing::get_alias,
            signing::delete_alias
        ))
        .routes(routes!(signing::alias_history))
        .routes(routes!(keys::register, keys::list))
        .routes(routes!(keys::get))
        .routes(routes!(keys::revoke))
        .routes(routes!(namespaces::get_policy, namespaces::put_policy))
        .routes(routes!(lineage::by_dataset))
        .routes(routes!(lineage::by_commit))
        .routes(routes!(lineage::of_version))
        .routes(routes!(lineage::create, lineage::list))
        .routes(routes!(lineage::lift))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify))
}

/// The OpenAPI document, as committed in `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = api_router().split_for_parts();
    tidy(api)
}

/// axum spells a catch-all segment `{*path}`; OpenAPI has no such syntax, so the
/// document names it `{path}` (its value may contain `/`).
fn tidy(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut api.paths.paths);
    api.paths.paths = paths
        .into_iter()
        .map(|(k, v)| (k.replace("{*", "{"), v))
        .collect();
    api
}

/// The whole service: API routes, the OpenAPI document and its browsable page.
pub fn app(state: AppState) -> Router {
    let (router, api) = api_router().split_for_parts();
    router
        .route_layer(axum::middleware::from_fn(note_route))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", tidy(api)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit_requests,
        ))
        .layer(axum::middleware::from_fn(request_context))
        .with_state(state)
}

impl IntoResponse for crate::error::Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

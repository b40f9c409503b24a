//! HTTP: routing, extractors, thin handlers and the one error → response mapping.
//!
//! Dependency rule: a handler extracts typed input, gets a permit from `auth`,
//! calls one domain operation (`Access`, `Registry`, `Trust`, `Provenance`,
//! `Auditing`) and shapes the answer. This layer never sees the store: no SQL,
//! no records beyond what domain calls return, no storage keys.

mod aliases;
mod attestations;
mod audit;
mod console;
pub mod contract;
pub mod error;
pub mod extract;
mod files;
mod identity;
mod keys;
mod lineage;
mod middleware;
mod models;
mod namespaces;
mod oci;
mod paths;
mod publishing;
mod quarantines;
mod service;
mod signatures;
mod uploads;
mod views;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::audit::{Appender, Auditing, RefusalWindow};
use crate::auth::Access;
use crate::catalog::Catalog;
use crate::lineage::Provenance;
use crate::registry::Registry;
use crate::trust::Trust;
use error::ApiError;
pub use middleware::{ExcessConnection, current_request_id};

/// The header a resumable upload's offset travels in, both ways (the request's
/// append position, the answer's committed offset).
pub const UPLOAD_OFFSET: &str = "upload-offset";

/// What every handler gets: the domain services. Nothing request-specific.
#[derive(Clone)]
pub struct AppState {
    pub access: Arc<Access>,
    /// The transparency log: the access log's tree and signed checkpoints.
    pub log: Arc<crate::audit::TransparencyLog>,
    /// Trusted publishing: publishers and the identity token exchange.
    pub publishing: Arc<crate::publishing::Publishing>,
    /// The console's reads, one per page.
    pub catalog: Arc<Catalog>,
    pub registry: Arc<Registry>,
    pub trust: Arc<Trust>,
    pub provenance: Arc<Provenance>,
    pub auditing: Arc<Auditing>,
    /// The OCI face's reads (`/v2`).
    pub distribution: Arc<crate::oci::Distribution>,
    pub appender: Arc<Appender>,
    /// Which rate-limit refusals get an event of their own.
    pub refusals: Arc<RefusalWindow>,
    /// How long a connection may take to send a request's head.
    pub header_read_timeout: std::time::Duration,
    /// How long a request on a route that does not stream may take (none: no limit).
    pub request_timeout: Option<std::time::Duration>,
    /// How many connections one client address may hold open (none: no limit).
    pub max_connections_per_address: Option<usize>,
    /// The configured limits the served OpenAPI document states.
    pub advertised: contract::Advertised,
    /// Served over TLS: the console's session cookie is `Secure`.
    pub secure_cookies: bool,
    /// The URL clients reach the service at, when configured (the OCI face's
    /// token realm); otherwise built from the request's `Host`.
    pub public_url: Option<String>,
    /// The access log's stream to a SIEM, when configured: it runs as long
    /// as the service holds it.
    pub audit_stream: Option<Arc<crate::audit::AuditStream>>,
    /// A namespace's webhooks.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Their delivery, when webhooks are on: it runs as long as the service
    /// holds it.
    pub dispatcher: Option<Arc<crate::webhooks::Dispatcher>>,
    /// The watch raising alerts on extraction-like access, unless off: it
    /// runs as long as the service holds it.
    pub extraction_watch: Option<Arc<crate::audit::ExtractionWatch>>,
}

/// `METHOD /route` → the status the route answers on success (the first 2xx its
/// annotation lists), which the event a committed change writes records. Read
/// once from the routes' typed operations as the router is built.
pub struct SuccessStatuses(std::collections::HashMap<String, u16>);

impl SuccessStatuses {
    fn of(api: &utoipa::openapi::OpenApi) -> Self {
        let mut map = std::collections::HashMap::new();
        // Keyed by the route as axum matched it (`{*path}` included).
        for (path, item) in &api.paths.paths {
            let ops = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
                ("HEAD", &item.head),
            ];
            for (method, op) in ops {
                let ok = op.iter().flat_map(|op| op.responses.responses.keys());
                if let Some(ok) = ok
                    .filter_map(|code| code.parse::<u16>().ok())
                    .filter(|c| (200..300).contains(c))
                    .min()
                {
                    map.insert(format!("{method} {path}"), ok);
                }
            }
        }
        Self(map)
    }

    /// The success status of `METHOD route` (200 for a route that lists none).
    pub fn of_route(&self, method: &axum::http::Method, route: &str) -> u16 {
        let key = format!("{method} {route}");
        self.0.get(&key).copied().unwrap_or(200)
    }
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if oci::is_oci(uri.path()) {
        return oci::unrouted(&method);
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    if oci::is_oci(uri.path()) {
        return oci::OciFailure::read_only().into_response();
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
    .into_response()
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
        (name = "service", description = "Health and readiness"),
        (name = "identity", description = "Who am I"),
        (name = "namespaces", description = "Team boundaries"),
        (name = "models", description = "Models and their versions"),
        (name = "files", description = "Artifact bytes of a version"),
        (name = "signing", description = "Signatures and promotion (aliases)"),
        (name = "keys", description = "Trusted signing keys"),
        (name = "publishing", description = "Trusted publishing: CI identities that publish without a stored token"),
        (name = "lineage", description = "Lineage queries and quarantines"),
        (name = "audit", description = "The access log"),
        (name = "webhooks", description = "A namespace's subscriptions to the registry's events: signed CloudEvents"),
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
        .routes(routes!(identity::whoami))
        .routes(routes!(namespaces::create, namespaces::list))
        .routes(routes!(namespaces::get))
        .routes(routes!(namespaces::list_members))
        .routes(routes!(namespaces::put_member, namespaces::delete_member))
        .routes(routes!(identity::create_token, identity::list_tokens))
        .routes(routes!(identity::revoke_token))
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
        .routes(routes!(uploads::start))
        .routes(routes!(uploads::status, uploads::append, uploads::abort))
        .routes(routes!(uploads::complete))
        .routes(routes!(signatures::add, signatures::list))
        .routes(routes!(signatures::bundle))
        .routes(routes!(attestations::add, attestations::list))
        .routes(routes!(attestations::get))
        .routes(routes!(attestations::bundle))
        .routes(routes!(attestations::bom))
        .routes(routes!(attestations::provenance))
        .routes(routes!(aliases::registry_key))
        .routes(routes!(aliases::put, aliases::get, aliases::delete))
        .routes(routes!(aliases::history))
        .routes(routes!(aliases::gate))
        .routes(routes!(keys::register, keys::list))
        .routes(routes!(keys::get))
        .routes(routes!(keys::revoke))
        .routes(routes!(namespaces::get_policy, namespaces::put_policy))
        .routes(routes!(publishing::list))
        .routes(routes!(publishing::put, publishing::delete))
        .routes(routes!(publishing::exchange))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(lineage::by_dataset))
        .routes(routes!(lineage::by_commit))
        .routes(routes!(lineage::of_version))
        .routes(routes!(quarantines::create, quarantines::list))
        .routes(routes!(quarantines::lift))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(audit::log_key))
        .routes(routes!(audit::consistency))
        .routes(routes!(audit::tile))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::proof))
}

/// The OpenAPI document, as committed in `openapi/openapi.json` (the default
/// limits).
pub fn openapi() -> serde_json::Value {
    openapi_with(&contract::Advertised::default())
}

/// The OpenAPI document of a server with these limits.
pub fn openapi_with(limits: &contract::Advertised) -> serde_json::Value {
    let (_, api) = api_router().split_for_parts();
    tidy(api, limits)
}

/// axum spells a catch-all segment `{*path}`; OpenAPI has no such syntax, so the
/// document names it `{path}` (its value may contain `/`).
///
/// Then [`contract::finish`] adds every rule and status the annotations cannot say.
fn tidy(mut api: utoipa::openapi::OpenApi, limits: &contract::Advertised) -> serde_json::Value {
    let paths = std::mem::take(&mut api.paths.paths);
    api.paths.paths = paths
        .into_iter()
        .map(|(k, v)| (k.replace("{*", "{"), v))
        .collect();
    let mut doc = serde_json::to_value(&api).expect("the document serializes");
    contract::finish(&mut doc, limits);
    doc
}

/// The whole service: API routes, the OpenAPI document and its browsable page.
pub fn app(state: AppState) -> Router {
    let (router, api) = api_router().split_for_parts();
    let statuses = Arc::new(SuccessStatuses::of(&api));
    let doc = Arc::new(tidy(api, &state.advertised));
    let serve_doc = move || {
        let doc = doc.clone();
        async move { axum::Json((*doc).clone()) }
    };
    router
        .merge(console::router())
        .merge(oci::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::deadline,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            statuses,
            middleware::note_route,
        ))
        .route("/openapi.json", axum::routing::get(serve_doc))
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json")))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::refuse_excess))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::audit_requests,
        ))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

/// The operator's listener (`SIGNET_METRICS_LISTEN`): metrics, liveness and
/// readiness, without authentication and without the access log. It carries no
/// credentials and no model data.
pub fn ops_app(readiness: Readiness) -> Router {
    use axum::routing::get;
    Router::new()
        .route("/metrics", get(service::metrics))
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::ops_readyz))
        .fallback(not_found)
        .with_state(readiness)
}

/// What the operator's listener answers from: nothing while the process starts
/// (alive, not ready: the stores are being reached, the database migrated),
/// then the service.
#[derive(Clone, Default)]
pub struct Readiness(Arc<std::sync::OnceLock<AppState>>);

impl Readiness {
    /// Ready from the start (the tests' services, built before they listen).
    pub fn of(state: AppState) -> Self {
        let r = Self::default();
        r.set(state);
        r
    }

    /// The service is built: readiness now asks its stores.
    pub fn set(&self, state: AppState) {
        let _ = self.0.set(state);
    }

    fn service(&self) -> Option<&AppState> {
        self.0.get()
    }
}

impl IntoResponse for crate::error::Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

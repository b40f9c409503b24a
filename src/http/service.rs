//! Unauthenticated service routes.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, Readiness};

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "Alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database and the blob store answer, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "service", security(()),
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
pub async fn readyz(State(st): State<AppState>) -> Result<&'static str, ApiError> {
    st.registry.ready().await?;
    Ok("ready")
}

/// The operator's `/readyz`: 503 while the process starts (reaching the stores,
/// migrating), then as [`readyz`].
pub async fn ops_readyz(State(ops): State<Readiness>) -> Response {
    match ops.service() {
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
        Some(st) => readyz(State(st.clone())).await.into_response(),
    }
}

/// The metrics, in the OpenMetrics text format (served on the metrics address
/// only, not in the API); the pool is empty while the process starts.
pub async fn metrics(State(ops): State<Readiness>) -> impl IntoResponse {
    let pool = ops
        .service()
        .map(|st| st.registry.pool_usage())
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(pool),
    )
}

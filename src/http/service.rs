//! Unauthenticated service routes.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use super::error::ApiError;

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

/// The metrics, in the OpenMetrics text format (served on the metrics address
/// only, not in the API).
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(st.registry.pool_usage()),
    )
}

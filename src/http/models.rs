//! Models and versions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, PageQuery, Paging};
use super::paths::{ModelPath, VersionPath};
use super::views::{ModelList, ModelView, SealView, VersionList, VersionView};
use crate::api::{CreateModel, CreateVersion};
use crate::auth::{Principal, Provisional, Publish, Read, authorize};
use crate::names::Namespace;

/// Creates a model (publisher).
#[utoipa::path(post, path = "/v1/models", tag = "models", request_body = CreateModel,
    responses((status = 201, body = ModelView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_model(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateModel>,
) -> Result<(StatusCode, Json<ModelView>), ApiError> {
    let permit = authorize::<Publish>(&p, &req.namespace)?;
    let m = st
        .registry
        .create_model(&permit, &req.name, req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

/// Filters of the model listing (paging is read by `Paging`).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelsFilter {
    /// Only this namespace.
    #[param(inline)]
    namespace: Option<Namespace>,
}

/// Models the caller may read, by namespace and name.
#[utoipa::path(get, path = "/v1/models", tag = "models", params(ModelsFilter, PageQuery),
    responses((status = 200, body = ModelList), (status = 404, body = ErrorBody)))]
pub async fn list_models(
    State(st): State<AppState>,
    p: Principal,
    Paging(q, page): Paging<ModelsFilter>,
) -> Result<Json<ModelList>, ApiError> {
    let permit = q
        .namespace
        .map(|ns| authorize::<Read>(&p, &ns))
        .transpose()?;
    Ok(Json(
        st.registry.models(&p, permit.as_ref(), &page).await?.into(),
    ))
}

/// One model.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}", tag = "models",
    params(ModelPath),
    responses((status = 200, body = ModelView), (status = 404, body = ErrorBody)))]
pub async fn get_model(
    State(st): State<AppState>,
    p: Principal,
    ModelPath(model): ModelPath,
) -> Result<Json<ModelView>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    Ok(Json(st.registry.model(&permit, &model.name).await?.into()))
}

/// Creates a draft version with its lineage (publisher).
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions", tag = "models",
    params(ModelPath),
    request_body = CreateVersion,
    responses((status = 201, body = VersionView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_version(
    State(st): State<AppState>,
    p: Principal,
    ModelPath(model): ModelPath,
    ApiJson(req): ApiJson<CreateVersion>,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let v = st
        .registry
        .create_version(&permit, &p, &model.name, req.lineage, req.metadata)
        .await?;
    Ok((StatusCode::CREATED, Json(VersionView::new(v, Vec::new()))))
}

/// Versions of a model, newest first.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions", tag = "models",
    params(ModelPath, PageQuery),
    responses((status = 200, body = VersionList), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(st): State<AppState>,
    p: Principal,
    ModelPath(model): ModelPath,
    Paging(_no_filter, page): Paging,
) -> Result<Json<VersionList>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let versions = st.registry.versions(&permit, &model.name, &page).await?;
    Ok(Json(versions.into()))
}

/// One version with its files, lineage and verification state.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}", tag = "models",
    params(VersionPath),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(st): State<AppState>,
    caller: Provisional,
    VersionPath(model, number): VersionPath,
) -> Result<Json<VersionView>, ApiError> {
    let (st, model) = (&st, &model);
    let details = st
        .access
        .serve(caller, |p| async move {
            let permit = authorize::<Read>(&p, &model.namespace)?;
            st.trust.seen_version(&permit, &model.name, number).await
        })
        .await?;
    Ok(Json(details.into()))
}

/// Seals a draft: its files and lineage are frozen; answers the statement to sign.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/seal", tag = "models",
    params(VersionPath),
    responses((status = 200, body = SealView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_sealed` or `empty_version`")))]
pub async fn seal(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<SealView>, ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    Ok(Json(
        st.registry.seal(&permit, &model.name, number).await?.into(),
    ))
}

/// The unsigned in-toto statement of a sealed version: what a signer signs.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/statement", tag = "signing",
    params(VersionPath),
    responses((status = 200, description = "in-toto Statement v1", body = Object),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`")))]
pub async fn statement(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<Value>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    Ok(Json(
        st.registry.statement(&permit, &model.name, number).await?,
    ))
}

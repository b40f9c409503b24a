//! Models and versions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, ModelPath, PageQuery, VersionPath, next_cursor};
use super::views::{
    FileView, ModelList, ModelView, SealView, VersionList, VersionSummary, VersionView,
    version_view,
};
use crate::auth::{Action, Principal, Resource, authorize};
use crate::names::{ModelName, ModelRef, Namespace};
use crate::registry::Lineage;
use crate::store::Visibility;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    #[schema(value_type = String)]
    pub namespace: Namespace,
    #[schema(value_type = String)]
    pub name: ModelName,
    #[serde(default)]
    pub description: String,
}

/// Creates a model (publisher).
#[utoipa::path(post, path = "/v1/models", tag = "models", request_body = CreateModel,
    responses((status = 201, body = ModelView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_model(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateModel>,
) -> Result<(StatusCode, Json<ModelView>), ApiError> {
    let permit = authorize(&p, Action::Publish, Resource::Namespace(&req.namespace))?;
    if req.description.len() > 4096 {
        return Err(ApiError::invalid("description is limited to 4096 bytes"));
    }
    let model = ModelRef {
        namespace: req.namespace,
        name: req.name,
    };
    let m = st
        .registry
        .create_model(&permit, &p, &model, req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelsQuery {
    /// Only this namespace.
    pub namespace: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Models the caller may read, by namespace and name.
#[utoipa::path(get, path = "/v1/models", tag = "models", params(ModelsQuery),
    responses((status = 200, body = ModelList), (status = 404, body = ErrorBody)))]
pub async fn list_models(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ModelsQuery>,
) -> Result<Json<ModelList>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let cursor = page.cursor()?;
    let after = cursor.split_once('/').unwrap_or(("", ""));
    let ns = q.namespace.as_deref().map(Namespace::parse).transpose()?;
    if let Some(ns) = &ns {
        authorize(&p, Action::Read, Resource::Namespace(ns))?;
    }
    let vis = if p.sees_all_namespaces()? {
        Visibility::All
    } else {
        Visibility::MemberOf(p.name.clone())
    };
    let items = st
        .registry
        .store
        .list_models(&vis, ns.as_ref().map(Namespace::as_str), after, limit)
        .await?;
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|m| format!("{}/{}", m.namespace, m.name)),
    );
    Ok(Json(ModelList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One model.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}", tag = "models",
    params(("ns" = String, Path), ("model" = String, Path)),
    responses((status = 200, body = ModelView), (status = 404, body = ErrorBody)))]
pub async fn get_model(
    State(st): State<AppState>,
    p: Principal,
    ModelPath(model): ModelPath,
) -> Result<Json<ModelView>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let mut view = ModelView::from(st.registry.model(&model).await?);
    view.aliases = st
        .registry
        .store
        .aliases_of(model.namespace.as_str(), model.name.as_str())
        .await?
        .into_iter()
        .collect();
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    #[serde(default)]
    pub lineage: Lineage,
    /// Free-form JSON object, at most 64 KiB.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Creates a draft version with its lineage (publisher).
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions", tag = "models",
    params(("ns" = String, Path), ("model" = String, Path)),
    request_body = CreateVersion,
    responses((status = 201, body = VersionView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_version(
    State(st): State<AppState>,
    p: Principal,
    ModelPath(model): ModelPath,
    ApiJson(req): ApiJson<CreateVersion>,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    let permit = authorize(&p, Action::Publish, Resource::Namespace(&model.namespace))?;
    let lineage = req.lineage.normalize().map_err(ApiError::invalid)?;
    let v = st
        .registry
        .create_version(&permit, &p, &model, lineage, req.metadata)
        .await?;
    Ok((StatusCode::CREATED, Json(VersionView::new(v, Vec::new()))))
}

/// Versions of a model, newest first.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions", tag = "models",
    params(("ns" = String, Path), ("model" = String, Path), PageQuery),
    responses((status = 200, body = VersionList), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(st): State<AppState>,
    p: Principal,
    ModelPath(model): ModelPath,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<VersionList>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let limit = page.limit()?;
    let cursor = page.cursor()?;
    let before = if cursor.is_empty() {
        i64::MAX
    } else {
        cursor
            .parse()
            .map_err(|_| ApiError::invalid("invalid cursor"))?
    };
    // A model that does not exist answers 404, not an empty list.
    st.registry.model(&model).await?;
    let items = st
        .registry
        .store
        .list_versions(model.namespace.as_str(), model.name.as_str(), before, limit)
        .await?;
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|v| v.version.to_string()),
    );
    Ok(Json(VersionList {
        items: items.iter().map(VersionSummary::from).collect(),
        next_cursor: next,
    }))
}

/// One version with its files, lineage and verification state.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}", tag = "models",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path)),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<VersionView>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    Ok(Json(version_view(&st, v).await?))
}

/// Seals a draft: its files and lineage are frozen; answers the statement to sign.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/seal", tag = "models",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path)),
    responses((status = 200, body = SealView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_sealed` or `empty_version`")))]
pub async fn seal(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<SealView>, ApiError> {
    let permit = authorize(&p, Action::Publish, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    let sealed = st.registry.seal(&permit, &v).await?;
    let view = VersionView::new(sealed.version, sealed.files);
    Ok(Json(SealView {
        version: view.summary.version,
        state: view.summary.state,
        root_digest: view.summary.root_digest.unwrap_or_default(),
        files: view.files.into_iter().collect::<Vec<FileView>>(),
        statement: sealed.statement,
    }))
}

/// The unsigned in-toto statement of a sealed version: what a signer signs.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/statement", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path)),
    responses((status = 200, description = "in-toto Statement v1", body = Object),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`")))]
pub async fn statement(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<Value>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    if !v.is_sealed() {
        return Err(crate::error::Error::VersionNotSealed.into());
    }
    let files = st.registry.store.files_of(v.id).await?;
    Ok(Json(st.registry.statement(&v, &files)?))
}

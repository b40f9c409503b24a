//! Lineage queries.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::paths::{CommitPath, DatasetPath, VersionPath};
use crate::api::{LineageEntry, LineageList, VersionLineage};
use crate::auth::{Global, Principal, Read, authorize, authorize_global};
use crate::lineage::{Family, LineageHit};

impl From<LineageHit> for LineageEntry {
    fn from(h: LineageHit) -> Self {
        Self {
            namespace: h.version.namespace.to_string(),
            model: h.version.model.to_string(),
            version: h.version.version.get(),
            state: h.version.state.to_string(),
            depth: h.depth,
        }
    }
}

impl From<Vec<LineageHit>> for LineageList {
    fn from(hits: Vec<LineageHit>) -> Self {
        Self {
            items: hits.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Family> for VersionLineage {
    fn from(f: Family) -> Self {
        Self {
            ancestors: f.ancestors.into_iter().map(Into::into).collect(),
            descendants: f.descendants.into_iter().map(Into::into).collect(),
        }
    }
}

/// Versions trained on a dataset, and everything fine-tuned from them.
#[utoipa::path(get, path = "/v1/lineage/datasets/{sha256}", tag = "lineage",
    params(DatasetPath),
    responses((status = 200, body = LineageList), (status = 400, body = ErrorBody)))]
pub async fn by_dataset(
    State(st): State<AppState>,
    p: Principal,
    DatasetPath(digest): DatasetPath,
) -> Result<Json<LineageList>, ApiError> {
    authorize_global::<Read>(&p, Global::Public)?;
    Ok(Json(st.provenance.by_dataset(&p, digest).await?.into()))
}

/// Versions built from a commit, and everything fine-tuned from them.
#[utoipa::path(get, path = "/v1/lineage/commits/{commit}", tag = "lineage",
    params(CommitPath),
    responses((status = 200, body = LineageList), (status = 400, body = ErrorBody)))]
pub async fn by_commit(
    State(st): State<AppState>,
    p: Principal,
    CommitPath(commit): CommitPath,
) -> Result<Json<LineageList>, ApiError> {
    authorize_global::<Read>(&p, Global::Public)?;
    Ok(Json(st.provenance.by_commit(&p, commit).await?.into()))
}

/// A version's ancestors and descendants through `parents`, any depth.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/lineage", tag = "lineage",
    params(VersionPath),
    responses((status = 200, body = VersionLineage), (status = 404, body = ErrorBody)))]
pub async fn of_version(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<VersionLineage>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let family = st
        .provenance
        .family(&permit, &p, &model.name, number)
        .await?;
    Ok(Json(family.into()))
}

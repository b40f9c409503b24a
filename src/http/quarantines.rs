//! Quarantines: datasets, commits and versions that must not reach production,
//! with everything built from them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, PageQuery, Paging};
use super::paths::IdPath;
use super::views::list_of;
use crate::api::{AliasAt, CreateQuarantine, QuarantineCreated, QuarantineList, QuarantineView};
use crate::auth::{Global, Manage, Principal, authorize_global};
use crate::error::Error;
use crate::kinds::QuarantineTarget;
use crate::lineage::{Imposed, QuarantinePermit, QuarantineRecord};
use crate::names::Reason;

impl From<QuarantineRecord> for QuarantineView {
    fn from(q: QuarantineRecord) -> Self {
        Self {
            id: q.id,
            kind: q.target.kind().to_string(),
            value: q.target.value(),
            namespaces: q.scope.iter().map(ToString::to_string).collect(),
            reason: q.reason,
            created_at: q.created_at,
            created_by: q.created_by.to_string(),
            lifted_at: q.lifted_at,
            lifted_by: q.lifted_by.map(|p| p.to_string()),
            lift_reason: q.lift_reason,
        }
    }
}

impl From<Imposed> for QuarantineCreated {
    fn from(i: Imposed) -> Self {
        Self {
            quarantine: i.quarantine.into(),
            affected_versions: i.affected.into_iter().map(Into::into).collect(),
            aliases: i
                .aliases
                .into_iter()
                .map(|a| AliasAt {
                    namespace: a.model.namespace.to_string(),
                    model: a.model.name.to_string(),
                    alias: a.alias.to_string(),
                    version: a.version.get(),
                })
                .collect(),
        }
    }
}

list_of!(QuarantineList, QuarantineRecord, QuarantineView::from);

/// Quarantines a dataset, a commit or a version, in the namespaces given (admin;
/// maintainers: within the namespaces they maintain). Everything built from it
/// through lineage in those namespaces can no longer be promoted or pulled by
/// deployers.
#[utoipa::path(post, path = "/v1/quarantines", tag = "lineage", request_body = CreateQuarantine,
    responses((status = 201, body = QuarantineCreated), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateQuarantine>,
) -> Result<(StatusCode, Json<QuarantineCreated>), ApiError> {
    let target = QuarantineTarget::parse(req.kind, &req.value).map_err(Error::from)?;
    let permit = QuarantinePermit::authorize(&p, target, req.namespaces)?;
    let imposed = st.provenance.quarantine(permit, &p, req.reason).await?;
    Ok((StatusCode::CREATED, Json(imposed.into())))
}

/// Quarantines, active and lifted (admin, maintainers; version quarantines only of
/// namespaces the caller sees).
#[utoipa::path(get, path = "/v1/quarantines", tag = "lineage", params(PageQuery),
    responses((status = 200, body = QuarantineList), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    Paging(_no_filter, page): Paging,
) -> Result<Json<QuarantineList>, ApiError> {
    let permit = authorize_global::<Manage>(&p, Global::AnyNamespace)?;
    Ok(Json(
        st.provenance.quarantines(&permit, &p, &page).await?.into(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiftQuery {
    /// Why, for the record.
    #[param(inline)]
    pub reason: Option<Reason>,
}

/// Lifts a quarantine; the lifting is recorded. It takes the right to manage
/// every namespace the quarantine applies to (`*`: a global role).
#[utoipa::path(delete, path = "/v1/quarantines/{id}", tag = "lineage",
    params(IdPath, LiftQuery),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn lift(
    State(st): State<AppState>,
    p: Principal,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<LiftQuery>,
) -> Result<StatusCode, ApiError> {
    st.provenance
        .lift(&p, id, q.reason.unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Quarantines: datasets, commits and versions that must not reach production,
//! with everything built from them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, PageQuery, Paging};
use super::paths::IdPath;
use super::views::list_of;
use crate::api::LineageEntry;
use crate::auth::{Global, Manage, Principal, authorize_global};
use crate::error::Error;
use crate::kinds::{BindingScope, QuarantineKind, QuarantineTarget};
use crate::lineage::{Imposed, QuarantinePermit, QuarantineRecord};
use crate::names::{Reason, RequiredReason};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuarantine {
    /// `dataset`, `commit` or `version`.
    pub kind: QuarantineKind,
    /// A dataset digest, a commit id, or `namespace/model@version`.
    pub value: String,
    pub reason: RequiredReason,
    /// Where it applies: the namespaces whose versions it blocks, or `["*"]`
    /// (global roles only). Default: a version's own namespace; for a dataset or
    /// commit, every namespace the caller manages (`*` for a global role).
    #[schema(min_items = 1)]
    pub namespaces: Option<Vec<BindingScope>>,
}

#[derive(Serialize, ToSchema)]
pub struct QuarantineView {
    pub id: Uuid,
    pub kind: String,
    pub value: String,
    /// The namespaces whose versions it blocks, or `["*"]`.
    pub namespaces: Vec<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

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

#[derive(Serialize, ToSchema)]
pub struct AliasAt {
    pub namespace: String,
    pub model: String,
    pub alias: String,
    pub version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct QuarantineCreated {
    #[serde(flatten)]
    pub quarantine: QuarantineView,
    /// Versions now blocked (those the caller may see).
    pub affected_versions: Vec<LineageEntry>,
    /// Aliases currently pointing at an affected version.
    pub aliases: Vec<AliasAt>,
}

#[derive(Serialize, ToSchema)]
pub struct QuarantineList {
    pub items: Vec<QuarantineView>,
    pub next_cursor: Option<String>,
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

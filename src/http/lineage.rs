//! Lineage queries and quarantines.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, PageQuery, VersionPath, next_cursor};
use crate::auth::{Action, Principal, Resource, authorize};
use crate::names::{ModelRef, Namespace, Sha256, VersionNumber};
use crate::registry::lineage::CommitId;
use crate::registry::quarantine::Target;
use crate::store::{Direction, LineageHit, LineageSeed, QuarantineRecord};

/// A version found through lineage.
#[derive(Serialize, ToSchema)]
pub struct LineageEntry {
    pub namespace: String,
    pub model: String,
    pub version: i64,
    pub state: String,
    /// Steps through `parents` from where the walk started: 0 is the version that
    /// names the dataset or commit itself, 1 a fine-tune of it, and so on.
    pub depth: i64,
}

#[derive(Serialize, ToSchema)]
pub struct LineageList {
    pub items: Vec<LineageEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionLineage {
    /// Base models, transitively, nearest first.
    pub ancestors: Vec<LineageEntry>,
    /// Fine-tunes, transitively, nearest first.
    pub descendants: Vec<LineageEntry>,
}

/// Keeps only what the principal may read; asks once per namespace.
fn visible(p: &Principal, hits: Vec<LineageHit>) -> Vec<LineageEntry> {
    let mut seen: HashMap<String, bool> = HashMap::new();
    hits.into_iter()
        .filter(|h| {
            *seen.entry(h.version.namespace.clone()).or_insert_with(|| {
                Namespace::parse(&h.version.namespace)
                    .and_then(|ns| authorize(p, Action::Read, Resource::Namespace(&ns)))
                    .is_ok()
            })
        })
        .map(|h| LineageEntry {
            namespace: h.version.namespace,
            model: h.version.model,
            version: h.version.version,
            state: h.version.state,
            depth: h.depth,
        })
        .collect()
}

/// Versions trained on a dataset, and everything fine-tuned from them.
#[utoipa::path(get, path = "/v1/lineage/datasets/{sha256}", tag = "lineage",
    params(("sha256" = String, Path, description = "Dataset digest, 64 hex digits")),
    responses((status = 200, body = LineageList), (status = 400, body = ErrorBody)))]
pub async fn by_dataset(
    State(st): State<AppState>,
    p: Principal,
    Path(digest): Path<String>,
) -> Result<Json<LineageList>, ApiError> {
    authorize(&p, Action::Read, Resource::Public)?;
    let d = Sha256::parse(&digest)?;
    let hits = st
        .registry
        .store
        .lineage(&LineageSeed::Dataset(d.to_hex()), Direction::Descendants)
        .await?;
    Ok(Json(LineageList {
        items: visible(&p, hits),
    }))
}

/// Versions built from a commit, and everything fine-tuned from them.
#[utoipa::path(get, path = "/v1/lineage/commits/{commit}", tag = "lineage",
    params(("commit" = String, Path, description = "40 or 64 hex digits")),
    responses((status = 200, body = LineageList), (status = 400, body = ErrorBody)))]
pub async fn by_commit(
    State(st): State<AppState>,
    p: Principal,
    Path(commit): Path<String>,
) -> Result<Json<LineageList>, ApiError> {
    authorize(&p, Action::Read, Resource::Public)?;
    let c = CommitId::parse(&commit)
        .ok_or_else(|| ApiError::invalid("a commit is 40 or 64 hex digits"))?;
    let hits = st
        .registry
        .store
        .lineage(
            &LineageSeed::Commit(c.as_str().to_owned()),
            Direction::Descendants,
        )
        .await?;
    Ok(Json(LineageList {
        items: visible(&p, hits),
    }))
}

/// A version's ancestors and descendants through `parents`, any depth.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/lineage", tag = "lineage",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path)),
    responses((status = 200, body = VersionLineage), (status = 404, body = ErrorBody)))]
pub async fn of_version(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<VersionLineage>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    let seed = LineageSeed::Version(v.id);
    let store = &st.registry.store;
    let up = store.lineage(&seed, Direction::Ancestors).await?;
    let down = store.lineage(&seed, Direction::Descendants).await?;
    let strict = |hits: Vec<LineageHit>| hits.into_iter().filter(|h| h.depth > 0).collect();
    Ok(Json(VersionLineage {
        ancestors: visible(&p, strict(up)),
        descendants: visible(&p, strict(down)),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuarantine {
    /// `dataset`, `commit` or `version`.
    pub kind: String,
    /// A dataset digest, a commit id, or `namespace/model@version`.
    pub value: String,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct QuarantineView {
    pub id: Uuid,
    pub kind: String,
    pub value: String,
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
            kind: q.kind,
            value: q.value,
            reason: q.reason,
            created_at: q.created_at,
            created_by: q.created_by,
            lifted_at: q.lifted_at,
            lifted_by: q.lifted_by,
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

fn target(kind: &str, value: &str) -> Result<Target, ApiError> {
    match kind {
        "dataset" => Ok(Target::Dataset(Sha256::parse(value)?)),
        "commit" => CommitId::parse(value)
            .map(Target::Commit)
            .ok_or_else(|| ApiError::invalid("a commit is 40 or 64 hex digits")),
        "version" => {
            let (m, v) = value
                .rsplit_once('@')
                .ok_or_else(|| ApiError::invalid("a version is written namespace/model@version"))?;
            Ok(Target::Version(
                ModelRef::parse(m)?,
                VersionNumber::parse(v)?,
            ))
        }
        _ => Err(ApiError::invalid("kind must be dataset, commit or version")),
    }
}

/// A version quarantine belongs to its namespace; dataset and commit quarantines
/// reach every namespace.
fn scope(t: &Target) -> Resource<'_> {
    match t {
        Target::Version(m, _) => Resource::Namespace(&m.namespace),
        _ => Resource::AnyNamespace,
    }
}

/// Quarantines a dataset, a commit or a version (admin; maintainers: any dataset
/// or commit, versions of their namespaces). Everything built from it through
/// lineage can no longer be promoted or pulled by deployers.
#[utoipa::path(post, path = "/v1/quarantines", tag = "lineage", request_body = CreateQuarantine,
    responses((status = 201, body = QuarantineCreated), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateQuarantine>,
) -> Result<(StatusCode, Json<QuarantineCreated>), ApiError> {
    let t = target(&req.kind, &req.value)?;
    let permit = authorize(&p, Action::Manage, scope(&t))?;
    if req.reason.is_empty() || req.reason.len() > 1024 {
        return Err(ApiError::invalid("reason must be 1 to 1024 bytes"));
    }
    let (q, affected) = st.registry.quarantine(&permit, &p, &t, req.reason).await?;
    let affected = visible(&p, affected);
    let mut aliases = Vec::new();
    let mut models: Vec<(&str, &str)> = affected
        .iter()
        .map(|e| (e.namespace.as_str(), e.model.as_str()))
        .collect();
    models.sort();
    models.dedup();
    for (ns, m) in models {
        for (alias, v) in st.registry.store.aliases_of(ns, m).await? {
            if affected
                .iter()
                .any(|e| e.namespace == ns && e.model == m && e.version == v)
            {
                aliases.push(AliasAt {
                    namespace: ns.to_owned(),
                    model: m.to_owned(),
                    alias,
                    version: v,
                });
            }
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(QuarantineCreated {
            quarantine: q.into(),
            affected_versions: affected,
            aliases,
        }),
    ))
}

/// Quarantines, active and lifted (admin, maintainers; version quarantines only of
/// namespaces the caller sees).
#[utoipa::path(get, path = "/v1/quarantines", tag = "lineage", params(PageQuery),
    responses((status = 200, body = QuarantineList), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<QuarantineList>, ApiError> {
    authorize(&p, Action::Manage, Resource::AnyNamespace)?;
    let limit = page.limit()?;
    let cursor = page.cursor()?;
    let after = if cursor.is_empty() {
        Uuid::nil()
    } else {
        Uuid::parse_str(&cursor).map_err(|_| ApiError::invalid("invalid cursor"))?
    };
    let rows = st.registry.store.list_quarantines(after, limit).await?;
    let next = next_cursor(
        rows.len() as i64 == limit,
        rows.last().map(|q| q.id.to_string()),
    );
    let items = rows
        .into_iter()
        .filter(|q| match target(&q.kind, &q.value) {
            Ok(t @ Target::Version(..)) => authorize(&p, Action::Read, scope(&t)).is_ok(),
            _ => true,
        })
        .map(Into::into)
        .collect();
    Ok(Json(QuarantineList {
        items,
        next_cursor: next,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiftQuery {
    /// Why, for the record.
    pub reason: Option<String>,
}

/// Lifts a quarantine; the lifting is recorded. Dataset and commit quarantines
/// restore trust in every namespace, so only admins lift them.
#[utoipa::path(delete, path = "/v1/quarantines/{id}", tag = "lineage",
    params(("id" = Uuid, Path), LiftQuery),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn lift(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LiftQuery>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::invalid("invalid quarantine id"))?;
    let record = st.registry.store.get_quarantine(id).await?;
    let t = target(&record.kind, &record.value)?;
    let resource = match &t {
        Target::Version(..) => scope(&t),
        _ => Resource::Global,
    };
    let permit = authorize(&p, Action::Manage, resource)?;
    st.registry
        .lift_quarantine(&permit, &p, id, q.reason.as_deref().unwrap_or(""))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

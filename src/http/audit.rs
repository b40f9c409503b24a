//! The access log: query, export, verify.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, PageQuery, Paging};
use super::views::list_of;
use crate::api::{AuditPage, ConsistencyProof};
use crate::audit::{ChainedEvent, Query, Scope, VerifyReport};
use crate::auth::{Global, Principal, ReadAudit, authorize_global};
use crate::kinds::Outcome;
use crate::names::{ModelRef, Namespace, PrincipalName, Text};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The log's filters: every value checked before it reaches the log (text
/// filters are compared with stored text: no NUL, no longer than anything
/// stored).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    #[param(inline)]
    principal: Option<PrincipalName>,
    /// `METHOD /route/{template}`, e.g. `GET /v1/models/{ns}/{model}/versions/{v}/files/{path}`.
    #[param(inline)]
    action: Option<Text<1024>>,
    /// Required unless the caller audits globally (admin, global auditor).
    #[param(inline)]
    namespace: Option<Namespace>,
    /// `namespace/model`.
    #[param(inline)]
    model: Option<ModelRef>,
    #[param(inline)]
    outcome: Option<Outcome>,
    /// RFC 3339; events at or after.
    #[serde(default, deserialize_with = "rfc3339")]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// RFC 3339; events before.
    #[serde(default, deserialize_with = "rfc3339")]
    until: Option<chrono::DateTime<chrono::Utc>>,
    #[param(inline)]
    request_id: Option<Text<1024>>,
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    let s = String::deserialize(d)?;
    chrono::DateTime::parse_from_rfc3339(&s)
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
        .map_err(|_| serde::de::Error::custom("since and until are RFC 3339 times"))
}

impl AuditFilters {
    /// Who may read which part of the log, and what they ask of it.
    pub(super) fn scope(self, p: &Principal) -> Result<(Scope, Query), ApiError> {
        let scope = Scope::of(p, self.namespace.as_ref(), self.model.as_ref())?;
        Ok((scope, self.into_query().1))
    }

    /// The namespace named, and what else is asked of the log.
    pub(super) fn into_query(self) -> (Option<Namespace>, Query) {
        let q = Query {
            principal: self.principal,
            action: self.action,
            model: self.model,
            outcome: self.outcome,
            since: self.since,
            until: self.until,
            request_id: self.request_id,
        };
        (self.namespace, q)
    }
}

list_of!(AuditPage, ChainedEvent, std::convert::identity);

/// Events, newest first (auditors, maintainers of the namespace, admins).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditFilters, PageQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    Paging(filters, page): Paging<AuditFilters>,
) -> Result<Json<AuditPage>, ApiError> {
    let (scope, q) = filters.scope(&p)?;
    Ok(Json(st.auditing.search(&scope, &q, &page).await?.into()))
}

/// The same events as JSON Lines, in chain order (oldest first), streamed page
/// by page (never all in memory).
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(AuditFilters, PageQuery),
    responses((status = 200, description = "JSON Lines, in chain order (oldest first)", content_type = "application/x-ndjson"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(st): State<AppState>,
    p: Principal,
    Paging(filters, _page): Paging<AuditFilters>,
) -> Result<Response, ApiError> {
    let (scope, q) = filters.scope(&p)?;
    let mut resp = Body::from_stream(st.auditing.export(&scope, &q)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(resp)
}

/// Which part of the log a verification reports on.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyScope {
    /// Report on one namespace (its auditors and maintainers): the whole
    /// chain is verified, and the answer counts only that namespace's events.
    /// Required unless the caller audits globally.
    #[param(inline)]
    namespace: Option<Namespace>,
}

/// Recomputes the whole chain from its anchor (global auditors and admins; a
/// namespace's auditors and maintainers for their namespace).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", params(VerifyScope),
    responses((status = 200, body = VerifyReport), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn verify(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(asked): ApiQuery<VerifyScope>,
) -> Result<Json<VerifyReport>, ApiError> {
    let scope = Scope::of(&p, asked.namespace.as_ref(), None)?;
    Ok(Json(st.auditing.verify(&scope).await?))
}

/// A text answer of the transparency log (`text/plain; charset=utf-8`).
fn text(body: String) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The transparency log's latest checkpoint: a signed note (C2SP
/// `tlog-checkpoint`) of the access log's Merkle tree, at most about a second
/// behind the log (every principal with an audit role).
#[utoipa::path(get, path = "/v1/audit/log/checkpoint", tag = "audit",
    responses((status = 200, description = "the signed checkpoint", content_type = "text/plain"),
        (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`log_unavailable`: no log key (PostgreSQL without `SIGNET_LOG_KEY_FILE`)")))]
pub async fn checkpoint(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let permit = authorize_global::<ReadAudit>(&p, Global::AnyNamespace)?;
    Ok(text(st.log.checkpoint(&permit).await?))
}

/// The verifier key auditors pin (`<name>+<key id>+<base64 key>`, C2SP
/// `signed-note`), also printed at start-up (every principal with an audit
/// role).
#[utoipa::path(get, path = "/v1/audit/log/key", tag = "audit",
    responses((status = 200, description = "the verifier key", content_type = "text/plain"),
        (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`log_unavailable`: no log key")))]
pub async fn log_key(State(st): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let permit = authorize_global::<ReadAudit>(&p, Global::AnyNamespace)?;
    Ok(text(format!("{}\n", st.log.verifier_key(&permit)?)))
}

/// The two sizes of a consistency proof.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofSizes {
    /// The older tree's size (events).
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    from: u64,
    /// The newer tree's size, at most the latest checkpoint's.
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    to: u64,
}

/// A consistency proof: the tree of `from` events is a prefix of the tree of
/// `to` events (RFC 6962), so the log only grew between two checkpoints
/// (every principal with an audit role).
#[utoipa::path(get, path = "/v1/audit/log/consistency", tag = "audit", params(ProofSizes),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such proof: `to` beyond the latest checkpoint, or `from` beyond `to`"),
        (status = 503, body = ErrorBody, description = "`log_unavailable`: no log key")))]
pub async fn consistency(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ProofSizes>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let permit = authorize_global::<ReadAudit>(&p, Global::AnyNamespace)?;
    let hashes = st.log.consistency(&permit, q.from, q.to).await?;
    Ok(Json(ConsistencyProof {
        from: q.from,
        to: q.to,
        hashes: hashes.iter().map(|h| STANDARD.encode(h)).collect(),
    }))
}

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
use super::paths::{BundlePath, EventPath, TilePath};
use super::views::list_of;
use crate::api::{AuditPage, ConsistencyProof, InclusionProof};
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

/// A proof's hashes, as the contract spells them (base64).
fn base64_all(hashes: &[crate::tlog::Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

/// An answer of the transparency log: its type and how long it may be kept
/// (by the caller's cache only: every answer needs credentials).
fn served(body: impl IntoResponse, kind: &'static str, cache: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// A text answer of the transparency log that changes as the log grows.
fn text(body: String) -> Response {
    served(body, "text/plain; charset=utf-8", "private, max-age=1")
}

/// A tile that never changes (full) or may be replaced by its full tile.
fn tile_bytes(body: Vec<u8>, full: bool) -> Response {
    let cache = match full {
        true => "private, max-age=31536000, immutable",
        false => "private, max-age=1",
    };
    served(body, "application/octet-stream", cache)
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
        hashes: base64_all(&hashes),
    }))
}

/// A hash tile of the access log's Merkle tree (C2SP `tlog-tiles`, height
/// 8): `{L}/{N}[.p/{W}]`, the hashes of `W` (256 when full) subtrees of
/// `256^L` events each, concatenated. No content: every principal with an
/// audit role. Full tiles never change.
#[utoipa::path(get, path = "/v1/audit/log/tile/{*path}", tag = "audit", params(TilePath),
    responses((status = 200, description = "the tile's hashes", content_type = "application/octet-stream"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such tile in the newest checkpoint's tree"),
        (status = 503, body = ErrorBody, description = "`log_unavailable`: no log key")))]
pub async fn tile(
    State(st): State<AppState>,
    p: Principal,
    TilePath(tile): TilePath,
) -> Result<Response, ApiError> {
    let permit = authorize_global::<ReadAudit>(&p, Global::AnyNamespace)?;
    let bytes = st.log.hash_tile(&permit, &tile).await?;
    Ok(tile_bytes(bytes, tile.is_full()))
}

/// An entry bundle of the access log (C2SP `tlog-tiles`): the events of
/// level-0 tile `{N}`, each its `audit export` line after its length as a
/// big-endian u16. The log's content: global auditors only. Full bundles
/// never change.
#[utoipa::path(get, path = "/v1/audit/log/tile/entries/{*path}", tag = "audit", params(BundlePath),
    responses((status = 200, description = "the events, length-prefixed", content_type = "application/octet-stream"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such bundle in the newest checkpoint's tree, or its events were archived"),
        (status = 503, body = ErrorBody, description = "`log_unavailable`: no log key")))]
pub async fn entries(
    State(st): State<AppState>,
    p: Principal,
    BundlePath(tile): BundlePath,
) -> Result<Response, ApiError> {
    let all = Scope::All(authorize_global::<ReadAudit>(&p, Global::All)?);
    let bytes = st.log.entry_bundle(&all, &tile).await?;
    Ok(tile_bytes(bytes, tile.is_full()))
}

/// Which tree an inclusion proof is in, and whose events the caller reads.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofOf {
    /// The tree's size (events): a size the log published a checkpoint of;
    /// the newest when absent.
    #[param(minimum = 1, maximum = 9007199254740991_i64)]
    size: Option<u64>,
    /// The event's namespace. Required unless the caller audits globally.
    #[param(inline)]
    namespace: Option<Namespace>,
}

/// An event's inclusion proof (RFC 6962) in the tree of `size` events, with
/// that tree's signed checkpoint and the event's leaf (its `audit export`
/// line): global auditors for any event, a namespace's auditors and
/// maintainers for its events (any other is missing to them).
#[utoipa::path(get, path = "/v1/audit/events/{seq}/proof", tag = "audit", params(EventPath, ProofOf),
    responses((status = 200, body = InclusionProof), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such event in that tree (or not one the caller reads), or no checkpoint of that size"),
        (status = 503, body = ErrorBody, description = "`log_unavailable`: no log key")))]
pub async fn proof(
    State(st): State<AppState>,
    p: Principal,
    EventPath(seq): EventPath,
    ApiQuery(q): ApiQuery<ProofOf>,
) -> Result<Json<InclusionProof>, ApiError> {
    let scope = Scope::of(&p, q.namespace.as_ref(), None)?;
    let proof = st.log.prove(&scope, seq, q.size).await?;
    Ok(Json(InclusionProof {
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        hashes: base64_all(&proof.hashes),
        checkpoint: proof.checkpoint,
        entry: proof.entry,
    }))
}

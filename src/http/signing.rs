//! Signatures on versions, and aliases (promotion).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AliasPath, ApiJson, ApiQuery, PageQuery, VersionPath, next_cursor};
use super::views::{VersionView, version_view, version_view_of};
use crate::auth::{Action, Principal, Resource, authorize};
use crate::error::Error;
use crate::names::VersionNumber;

/// Largest signature document accepted.
const MAX_SIGNATURE_BYTES: usize = 1 << 20;

#[derive(Serialize, ToSchema)]
pub struct SignatureAccepted {
    pub keyid: String,
    pub key_name: String,
    /// Always `verified`.
    pub status: String,
}

/// Adds a signature: a DSSE envelope over the version's statement, or a Sigstore
/// bundle v0.3 carrying one (publisher). Verified on arrival and kept verbatim.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/signatures", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path)),
    request_body(content = Object, description = "DSSE envelope or Sigstore bundle v0.3"),
    responses((status = 201, body = SignatureAccepted),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`, or the key already signed"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "`signature_invalid`, `untrusted_key`, `key_revoked` or `statement_mismatch`")))]
pub async fn add_signature(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
    body: Bytes,
) -> Result<(StatusCode, Json<SignatureAccepted>), ApiError> {
    let permit = authorize(&p, Action::Publish, Resource::Namespace(&model.namespace))?;
    if body.len() > MAX_SIGNATURE_BYTES {
        return Err(Error::TooLarge {
            limit: MAX_SIGNATURE_BYTES as u64,
        }
        .into());
    }
    let v = st.registry.version(&model, number).await?;
    let ok = st.registry.add_signature(&permit, &p, &v, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignatureAccepted {
            keyid: ok.keyid().to_owned(),
            key_name: ok.key_name().to_owned(),
            status: "verified".into(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct StoredSignature {
    pub keyid: String,
    pub received_at: DateTime<Utc>,
    /// The document as it was received, byte for byte.
    #[schema(value_type = Object)]
    pub envelope: Box<RawValue>,
}

#[derive(Serialize, ToSchema)]
pub struct SignatureList {
    pub items: Vec<StoredSignature>,
}

/// The stored signature documents, verbatim, for client-side verification.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/signatures", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path)),
    responses((status = 200, body = SignatureList), (status = 404, body = ErrorBody)))]
pub async fn list_signatures(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<SignatureList>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    let items = st
        .registry
        .store
        .signatures_of(v.id)
        .await?
        .into_iter()
        .map(|s| {
            Ok(StoredSignature {
                keyid: s.keyid,
                received_at: s.received_at,
                envelope: RawValue::from_string(s.envelope).map_err(Error::internal)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Json(SignatureList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAlias {
    #[schema(value_type = i64)]
    pub version: VersionNumber,
    #[serde(default)]
    pub reason: String,
}

/// Points an alias at a version: a promotion (approver). Refused with 409
/// `promotion_refused` and every reason unless the version passes the gate now.
#[utoipa::path(put, path = "/v1/models/{ns}/{model}/aliases/{alias}", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("alias" = String, Path)),
    request_body = MoveAlias,
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`promotion_refused` with `reasons`: \
            not_sealed, unsigned, signature_invalid, key_revoked, insufficient_signatures, \
            lineage_incomplete, quarantined, unsafe_format")))]
pub async fn put_alias(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
    ApiJson(req): ApiJson<MoveAlias>,
) -> Result<Json<VersionView>, ApiError> {
    let permit = authorize(&p, Action::Promote, Resource::Namespace(&model.namespace))?;
    if req.reason.len() > 1024 {
        return Err(ApiError::invalid("reason is limited to 1024 bytes"));
    }
    let v = st.registry.version(&model, req.version).await?;
    let gate = st.registry.check_promotion(&v, alias.as_str()).await?;
    let ok = gate.outcome.map_err(Error::PromotionRefused)?;
    st.registry
        .promote(&permit, &p, &model, alias.as_str(), ok, &req.reason)
        .await?;
    Ok(Json(
        version_view_of(&st, v, gate.files, gate.verification, gate.quarantined).await?,
    ))
}

/// The version an alias points at (how deployers resolve `production`).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/aliases/{alias}", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("alias" = String, Path)),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
pub async fn get_alias(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
) -> Result<Json<VersionView>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    let aliases = st
        .registry
        .store
        .aliases_of(model.namespace.as_str(), model.name.as_str())
        .await?;
    let (_, n) = aliases
        .into_iter()
        .find(|(a, _)| a == alias.as_str())
        .ok_or(Error::NotFound)?;
    let v = st.registry.version(&model, VersionNumber::new(n)?).await?;
    Ok(Json(version_view(&st, v).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveAliasQuery {
    /// Why, for the history.
    pub reason: Option<String>,
}

/// Removes an alias (approver); recorded in its history.
#[utoipa::path(delete, path = "/v1/models/{ns}/{model}/aliases/{alias}", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("alias" = String, Path), RemoveAliasQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_alias(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
    ApiQuery(q): ApiQuery<RemoveAliasQuery>,
) -> Result<StatusCode, ApiError> {
    let permit = authorize(&p, Action::Promote, Resource::Namespace(&model.namespace))?;
    st.registry.model(&model).await?;
    let reason = q.reason.unwrap_or_default();
    st.registry
        .remove_alias(&permit, &p, &model, alias.as_str(), &reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AliasMoveView {
    /// None when the alias was removed.
    pub version: Option<i64>,
    pub previous_version: Option<i64>,
    pub principal: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct AliasHistory {
    pub items: Vec<AliasMoveView>,
    pub next_cursor: Option<String>,
}

/// Every move of an alias, newest first.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/aliases/{alias}/history", tag = "signing",
    params(("ns" = String, Path), ("model" = String, Path), ("alias" = String, Path), PageQuery),
    responses((status = 200, body = AliasHistory), (status = 404, body = ErrorBody)))]
pub async fn alias_history(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<AliasHistory>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&model.namespace))?;
    st.registry.model(&model).await?;
    let limit = page.limit()?;
    let cursor = page.cursor()?;
    let before = if cursor.is_empty() {
        i64::MAX
    } else {
        cursor
            .parse()
            .map_err(|_| ApiError::invalid("invalid cursor"))?
    };
    let moves = st
        .registry
        .store
        .alias_history(
            model.namespace.as_str(),
            model.name.as_str(),
            alias.as_str(),
            before,
            limit,
        )
        .await?;
    let next = next_cursor(
        moves.len() as i64 == limit,
        moves.last().map(|m| m.id.to_string()),
    );
    Ok(Json(AliasHistory {
        items: moves
            .into_iter()
            .map(|m| AliasMoveView {
                version: m.version,
                previous_version: m.previous_version,
                principal: m.principal,
                reason: m.reason,
                at: m.at,
            })
            .collect(),
        next_cursor: next,
    }))
}

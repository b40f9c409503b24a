//! Trusted signing keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, PageQuery, Paging};
use super::paths::KeyPath;
use super::views::list_of;
use crate::api::{KeyList, KeyView, LostVersion, RegisterKey, Revoke, Revoked};
use crate::auth::{Global, Manage, Principal, Read, authorize_global, authorize_scope};
use crate::trust::{LostVerification, ShownKey};

impl From<ShownKey> for KeyView {
    fn from(shown: ShownKey) -> Self {
        let k = shown.key;
        Self {
            keyid: k.keyid.to_string(),
            name: k.name,
            algorithm: k.algorithm.to_string(),
            public_key: k.public_key,
            namespaces: shown.namespaces.iter().map(ToString::to_string).collect(),
            expires_at: k.expires_at,
            created_at: k.created_at,
            created_by: shown.created_by.map(|p| p.to_string()),
            revoked_at: k.revoked_at,
            revocation_reason: k.revocation_reason.map(|r| r.to_string()),
            revocation_note: k.revocation_note,
        }
    }
}

list_of!(KeyList, ShownKey, KeyView::from);

/// Registers a trusted public key (admin; maintainers for their own namespaces).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = RegisterKey,
    responses((status = 201, body = KeyView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`weak_key` or `unsupported_algorithm`")))]
pub async fn register(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<RegisterKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let permits = req
        .namespaces
        .iter()
        .map(|scope| authorize_scope::<Manage>(&p, scope))
        .collect::<Result<Vec<_>, _>>()?;
    let k = st
        .trust
        .register_key(&permits, req.name, req.public_key.as_str(), req.expires_at)
        .await?;
    Ok((StatusCode::CREATED, Json(k.into())))
}

/// Registered keys: those scoped to `*` or to a namespace the caller can read,
/// showing only those namespaces.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(PageQuery),
    responses((status = 200, body = KeyList)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    Paging(_no_filter, page): Paging,
) -> Result<Json<KeyList>, ApiError> {
    authorize_global::<Read>(&p, Global::Public)?;
    Ok(Json(st.trust.keys(&p, &page).await?.into()))
}

/// One key, if it is scoped to `*` or to a namespace the caller can read.
#[utoipa::path(get, path = "/v1/keys/{keyid}", tag = "keys", params(KeyPath),
    responses((status = 200, body = KeyView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    KeyPath(keyid): KeyPath,
) -> Result<Json<KeyView>, ApiError> {
    authorize_global::<Read>(&p, Global::Public)?;
    Ok(Json(st.trust.key(&p, &keyid).await?.into()))
}

/// Revokes a key (admin; maintainers of a namespace in its scope).
#[utoipa::path(post, path = "/v1/keys/{keyid}/revoke", tag = "keys",
    params(KeyPath), request_body = Revoke,
    responses((status = 200, body = Revoked), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(st): State<AppState>,
    p: Principal,
    KeyPath(keyid): KeyPath,
    ApiJson(req): ApiJson<Revoke>,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = st
        .trust
        .revoke_key(&p, &keyid, req.reason, req.note)
        .await?;
    Ok(Json(revoked.into()))
}

impl From<(ShownKey, Vec<LostVerification>)> for Revoked {
    fn from((key, lost): (ShownKey, Vec<LostVerification>)) -> Self {
        Self {
            key: key.into(),
            versions_lost_verification: lost
                .into_iter()
                .map(|l| LostVersion {
                    namespace: l.version.namespace.to_string(),
                    model: l.version.model.to_string(),
                    version: l.version.version.get(),
                    aliases: l.aliases.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        }
    }
}

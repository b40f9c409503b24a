//! Trusted signing keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, PageQuery, next_cursor};
use crate::auth::{Action, Principal, Resource, authorize};
use crate::error::Error;
use crate::names::Namespace;
use crate::signing::keys::RevocationReason;
use crate::store::KeyRecord;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterKey {
    pub name: String,
    /// Ed25519 public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: String,
    /// Namespaces the key may sign for, or `["*"]` (admins only).
    pub namespaces: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Public data of a key.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    /// Lowercase hex SHA-256 of the SPKI PEM text (LF line ends).
    pub keyid: String,
    pub name: String,
    /// Always `ed25519`.
    pub algorithm: String,
    pub public_key: String,
    pub namespaces: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `compromised` or `retired`.
    pub revocation_reason: Option<String>,
    pub revocation_note: Option<String>,
}

impl From<KeyRecord> for KeyView {
    fn from(k: KeyRecord) -> Self {
        Self {
            keyid: k.keyid,
            name: k.name,
            algorithm: k.algorithm,
            public_key: k.public_key,
            namespaces: k.namespaces.0,
            expires_at: k.expires_at,
            created_at: k.created_at,
            created_by: k.created_by,
            revoked_at: k.revoked_at,
            revocation_reason: k.revocation_reason,
            revocation_note: k.revocation_note,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
    pub next_cursor: Option<String>,
}

/// Asks for `Manage` on every namespace of a key's scope (`*`: globally).
fn authorize_scope(p: &Principal, namespaces: &[String]) -> Result<crate::auth::Permit, ApiError> {
    if namespaces.is_empty() {
        return Err(ApiError::invalid(
            "namespaces must name at least one namespace, or *",
        ));
    }
    let mut permit = None;
    for n in namespaces {
        permit = Some(if n == "*" {
            authorize(p, Action::Manage, Resource::Global)?
        } else {
            authorize(
                p,
                Action::Manage,
                Resource::Namespace(&Namespace::parse(n)?),
            )?
        });
    }
    Ok(permit.expect("at least one namespace"))
}

/// Registers a trusted public key (admin; maintainers for their own namespaces).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = RegisterKey,
    responses((status = 201, body = KeyView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<RegisterKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let permit = authorize_scope(&p, &req.namespaces)?;
    if req.name.is_empty() || req.name.len() > 200 {
        return Err(ApiError::invalid("name must be 1 to 200 bytes"));
    }
    if req.public_key.len() > 4096 {
        return Err(ApiError::invalid("public_key is too long"));
    }
    let mut namespaces = req.namespaces;
    namespaces.sort();
    namespaces.dedup();
    let k = st
        .registry
        .register_key(
            &permit,
            &p,
            req.name,
            &req.public_key,
            namespaces,
            req.expires_at,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(k.into())))
}

/// Registered keys (public data only).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(PageQuery),
    responses((status = 200, body = KeyList)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<KeyList>, ApiError> {
    authorize(&p, Action::Read, Resource::Public)?;
    let limit = page.limit()?;
    let items = st.registry.store.list_keys(&page.cursor()?, limit).await?;
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|k| k.keyid.clone()),
    );
    Ok(Json(KeyList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One key.
#[utoipa::path(get, path = "/v1/keys/{keyid}", tag = "keys", params(("keyid" = String, Path)),
    responses((status = 200, body = KeyView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    Path(keyid): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    authorize(&p, Action::Read, Resource::Public)?;
    let keyid = valid_keyid(&keyid)?;
    Ok(Json(st.registry.store.get_key(&keyid).await?.into()))
}

fn valid_keyid(s: &str) -> Result<String, ApiError> {
    if s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid("a keyid is 64 hex digits"))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// `compromised`: every signature by the key stops counting, past ones too.
    /// `retired`: no new signatures; earlier ones keep counting.
    pub reason: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Serialize, ToSchema)]
pub struct LostVersion {
    pub namespace: String,
    pub model: String,
    pub version: i64,
    /// Aliases that now point at this unverified version.
    pub aliases: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub key: KeyView,
    /// Versions that lost verification because of this revocation.
    pub versions_lost_verification: Vec<LostVersion>,
}

/// Revokes a key (admin; maintainers of a namespace in its scope).
#[utoipa::path(post, path = "/v1/keys/{keyid}/revoke", tag = "keys",
    params(("keyid" = String, Path)), request_body = Revoke,
    responses((status = 200, body = Revoked), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn revoke(
    State(st): State<AppState>,
    p: Principal,
    Path(keyid): Path<String>,
    ApiJson(req): ApiJson<Revoke>,
) -> Result<Json<Revoked>, ApiError> {
    let keyid = valid_keyid(&keyid)?;
    let reason = RevocationReason::parse(&req.reason)
        .ok_or_else(|| ApiError::invalid("reason must be compromised or retired"))?;
    if req.note.len() > 1024 {
        return Err(ApiError::invalid("note is limited to 1024 bytes"));
    }
    let key = st.registry.store.get_key(&keyid).await?;
    // Revoking only removes trust: any maintainer of a namespace the key signs for
    // may do it, so a compromise is contained without waiting for an admin.
    let permit = key
        .namespaces
        .0
        .iter()
        .find_map(|n| {
            let r = if n == "*" {
                authorize(&p, Action::Manage, Resource::Global)
            } else {
                Namespace::parse(n)
                    .and_then(|ns| authorize(&p, Action::Manage, Resource::Namespace(&ns)))
            };
            r.ok()
        })
        .ok_or(Error::Forbidden)?;
    let lost = st
        .registry
        .revoke_key(&permit, &keyid, reason, &req.note)
        .await?;
    Ok(Json(Revoked {
        key: st.registry.store.get_key(&keyid).await?.into(),
        versions_lost_verification: lost
            .into_iter()
            .map(|l| LostVersion {
                namespace: l.version.namespace,
                model: l.version.model,
                version: l.version.version,
                aliases: l.aliases,
            })
            .collect(),
    }))
}

//! Identity: who am I, and API tokens (minted, listed, revoked). A secret
//! appears only in the answer that creates it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, PageQuery, Paging};
use super::paths::IdPath;
use super::views::{RoleView, WhoAmI, list_of};
use crate::api::{CreateToken, CreatedToken, TokenList, TokenView};
use crate::auth::TokenRecord;
use crate::auth::{Global, ManageTokens, MintedToken, Principal, authorize_global};
use crate::names::PrincipalName;
use crate::page::Paged;

/// The caller's principal, token, roles, and limits with what it has used of them.
#[utoipa::path(get, path = "/v1/whoami", tag = "identity",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(State(st): State<AppState>, p: Principal) -> Result<Json<WhoAmI>, ApiError> {
    let usage = st.access.usage(&p).await?.into();
    Ok(Json(WhoAmI {
        usage,
        principal: p.name().to_string(),
        token_id: p.token_id(),
        roles: p
            .bindings()
            .iter()
            .map(|b| RoleView {
                namespace: b.scope.to_string(),
                role: b.role.to_string(),
            })
            .collect(),
    }))
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            principal: t.principal.to_string(),
            description: t.description,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
            parent_id: t.parent_id,
            revoked_with: t.revoked_with,
        }
    }
}

list_of!(TokenList, TokenRecord, TokenView::from);

impl From<MintedToken> for CreatedToken {
    fn from(m: MintedToken) -> Self {
        Self {
            id: m.token.id,
            token: m.secret.expose().to_owned(),
            principal: m.token.principal.to_string(),
            description: m.token.description,
            created_at: m.token.created_at,
            expires_at: m.token.expires_at,
        }
    }
}

/// Mints a token (for yourself, or as admin for anyone).
#[utoipa::path(post, path = "/v1/tokens", tag = "identity", operation_id = "create", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`reserved_principal`: an `oidc:` principal, \
            which only trusted publishing gives tokens")))]
pub async fn create_token(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let permit = authorize_global::<ManageTokens>(&p, Global::OwnedBy(&req.principal))?;
    let minted = st
        .access
        .mint_token(&permit, &p, req.description, req.expires_in_days)
        .await?;
    Ok((StatusCode::CREATED, Json(minted.into())))
}

/// Filters of the token listing (paging is read by `Paging`).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokensFilter {
    /// Admins: only this principal's tokens. Others always see only their own.
    #[param(inline)]
    principal: Option<PrincipalName>,
}

/// Tokens: admins see all, others their own. Never the secrets.
#[utoipa::path(get, path = "/v1/tokens", tag = "identity", operation_id = "list", params(TokensFilter, PageQuery),
    responses((status = 200, body = TokenList)))]
pub async fn list_tokens(
    State(st): State<AppState>,
    p: Principal,
    Paging(q, page): Paging<TokensFilter>,
) -> Result<Json<TokenList>, ApiError> {
    let tokens: Paged<TokenRecord> = st.access.tokens(&p, q.principal, &page).await?;
    Ok(Json(tokens.into()))
}

/// Revokes a token (its owner or an admin). It stops working at once.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "identity", operation_id = "revoke",
    params(IdPath),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    p: Principal,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    st.access.revoke_token(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

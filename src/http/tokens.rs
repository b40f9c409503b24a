//! API tokens: minted, listed, revoked. A secret appears only in the answer that
//! creates it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, PageQuery, next_cursor};
use crate::auth::{Action, Principal, Resource, Secret, authorize};
use crate::error::Error;
use crate::names::PrincipalName;
use crate::store::TokenRecord;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Who the token acts as. Anyone may mint for themselves; only admins for others.
    #[schema(value_type = String)]
    pub principal: PrincipalName,
    #[serde(default)]
    pub description: String,
    /// Lifetime in days (default and maximum are configured; 90 and 365 by default).
    pub expires_in_days: Option<u32>,
}

/// A token without its secret.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub principal: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            principal: t.principal,
            description: t.description,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A new token, with its secret: shown here once, never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: Uuid,
    /// The secret (`sgn_…`). Only its hash is stored.
    pub token: String,
    pub principal: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
    pub next_cursor: Option<String>,
}

/// Mints a token (for yourself, or as admin for anyone).
#[utoipa::path(post, path = "/v1/tokens", tag = "identity", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    authorize(
        &p,
        Action::ManageTokens,
        Resource::OwnedBy(req.principal.as_str()),
    )?;
    let limits = st.access.tokens;
    let days = req.expires_in_days.unwrap_or(limits.default_days);
    if days == 0 || days > limits.max_days {
        return Err(ApiError::invalid(format!(
            "expires_in_days must be between 1 and {}",
            limits.max_days
        )));
    }
    if req.description.len() > 1024 {
        return Err(ApiError::invalid("description is limited to 1024 bytes"));
    }
    let secret = Secret::generate();
    let now = Utc::now();
    let t = TokenRecord {
        id: Uuid::now_v7(),
        principal: req.principal.to_string(),
        description: req.description,
        created_at: now,
        expires_at: Some(now + chrono::Duration::days(i64::from(days))),
        revoked_at: None,
        last_used_at: None,
    };
    st.access.store.create_token(&t, &secret.hash()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: t.id,
            token: secret.expose().to_owned(),
            principal: t.principal,
            description: t.description,
            created_at: t.created_at,
            expires_at: t.expires_at,
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokensQuery {
    /// Admins: only this principal's tokens. Others always see only their own.
    pub principal: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Tokens: admins see all, others their own. Never the secrets.
#[utoipa::path(get, path = "/v1/tokens", tag = "identity", params(TokensQuery),
    responses((status = 200, body = TokenList)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let cursor = page.cursor()?;
    let after = if cursor.is_empty() {
        Uuid::nil()
    } else {
        Uuid::parse_str(&cursor).map_err(|_| ApiError::invalid("invalid cursor"))?
    };
    let principal = match authorize(&p, Action::ManageTokens, Resource::Global) {
        Ok(_) => q.principal,
        Err(Error::Forbidden) => Some(p.name.clone()),
        Err(e) => return Err(e.into()),
    };
    let items = st
        .access
        .store
        .list_tokens(principal.as_deref(), after, limit)
        .await?;
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|t| t.id.to_string()),
    );
    Ok(Json(TokenList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// Revokes a token (its owner or an admin). It stops working at once.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "identity",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::invalid("invalid token id"))?;
    let t = st.access.store.get_token(id).await?;
    // Someone else's token looks the same as a missing one.
    match authorize(&p, Action::ManageTokens, Resource::OwnedBy(&t.principal)) {
        Ok(_) => {}
        Err(Error::Forbidden) => return Err(Error::NotFound.into()),
        Err(e) => return Err(e.into()),
    }
    st.access.store.revoke_token(id, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

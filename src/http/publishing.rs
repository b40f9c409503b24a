//! Trusted publishing: a namespace's trusted publishers, and the exchange of
//! a CI job's identity token for a publisher token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiForm, ApiJson, Origin};
use super::paths::{NsPath, PublisherPath};
use crate::api::{
    ExchangedToken, IssuedTokenType, PutPublisher, TokenExchange, TrustedPublisher,
    TrustedPublisherList,
};
use crate::auth::{Manage, Principal, Read, authorize};
use crate::names::PrincipalName;
use crate::publishing::PublisherRecord;

impl From<PublisherRecord> for TrustedPublisher {
    fn from(p: PublisherRecord) -> Self {
        Self {
            principal: PrincipalName::publisher(&p.namespace, &p.name).to_string(),
            namespace: p.namespace.to_string(),
            name: p.name.to_string(),
            issuer: p.issuer,
            claims: p.claims,
            roles: p.roles,
            bind_commit: p.bind_commit,
            created_at: p.created_at,
            created_by: p.created_by.to_string(),
        }
    }
}

/// Creates or replaces a trusted publisher (admin, maintainer). A
/// replacement stops the tokens minted under the old one.
#[utoipa::path(put, path = "/v1/namespaces/{ns}/trusted-publishers/{name}", tag = "publishing",
    params(PublisherPath), request_body = PutPublisher,
    responses((status = 200, body = TrustedPublisher, description = "created or replaced"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_publisher`: settings that break \
            a publisher's rules (an issuer not accepted, `repository` without \
            `repository_owner_id`, no claim pinning an owner, a role other than publisher and \
            approver)")))]
pub async fn put(
    State(st): State<AppState>,
    p: Principal,
    PublisherPath(ns, name): PublisherPath,
    ApiJson(req): ApiJson<PutPublisher>,
) -> Result<Json<TrustedPublisher>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    Ok(Json(st.publishing.put(&permit, name, req).await?.into()))
}

/// A namespace's trusted publishers (its members, admin).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/trusted-publishers", tag = "publishing",
    params(NsPath),
    responses((status = 200, body = TrustedPublisherList), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
) -> Result<Json<TrustedPublisherList>, ApiError> {
    let permit = authorize::<Read>(&p, &ns)?;
    let items = st.publishing.list(&permit).await?;
    Ok(Json(TrustedPublisherList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Removes a trusted publisher (admin, maintainer); its tokens stop at once.
#[utoipa::path(delete, path = "/v1/namespaces/{ns}/trusted-publishers/{name}", tag = "publishing",
    params(PublisherPath),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    p: Principal,
    PublisherPath(ns, name): PublisherPath,
) -> Result<StatusCode, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    st.publishing.delete(&permit, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Exchanges a CI job's identity token (OpenID Connect) for a publisher
/// token, as RFC 8693 describes. No credential besides the identity token.
#[utoipa::path(post, path = "/v1/oidc/token", tag = "publishing", security(()),
    request_body(content = TokenExchange, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ExchangedToken),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "the identity token was refused: \
            `oidc_expired`, `oidc_not_yet_valid`, `oidc_audience`, `oidc_issuer`, \
            `oidc_signature`, `oidc_replayed` or `oidc_no_publisher`"),
        (status = 413, body = ErrorBody, description = "a form over 32 KiB"),
        (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`issuer_unavailable`: the identity \
            provider's keys cannot be fetched")))]
pub async fn exchange(
    State(st): State<AppState>,
    Origin(client, trail): Origin,
    ApiForm(form): ApiForm<TokenExchange>,
) -> Result<Json<ExchangedToken>, ApiError> {
    let done = st.publishing.exchange(form, client, &trail).await?;
    Ok(Json(ExchangedToken {
        access_token: done.token.secret.expose().to_owned(),
        issued_token_type: IssuedTokenType::AccessToken,
        token_type: "Bearer".into(),
        expires_in: done.token.expires_in,
        scope: done.scope,
    }))
}

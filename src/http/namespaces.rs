//! Namespaces, their members and their promotion policy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, PageQuery, Paging};
use super::paths::{MemberPath, NsPath, ScopePath};
use super::views::{NamespaceList, NamespaceView, list_of};
use crate::api::{CreateNamespace, Member, MemberList, SetRoles};
use crate::auth::{
    self, Global, Manage, Member as Membership, Principal, Read, authorize, authorize_global,
    authorize_scope,
};
use crate::trust::NamespacePolicy;

/// Creates a namespace (admin).
#[utoipa::path(post, path = "/v1/namespaces", tag = "namespaces", request_body = CreateNamespace,
    responses((status = 201, body = NamespaceView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateNamespace>,
) -> Result<(StatusCode, Json<NamespaceView>), ApiError> {
    let permit = authorize_global::<auth::CreateNamespace>(&p, Global::All)?;
    let ns = st
        .registry
        .create_namespace(&permit, req.name, req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(ns.into())))
}

/// Namespaces the caller may see.
#[utoipa::path(get, path = "/v1/namespaces", tag = "namespaces", params(PageQuery),
    responses((status = 200, body = NamespaceList)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    Paging(_no_filter, page): Paging,
) -> Result<Json<NamespaceList>, ApiError> {
    Ok(Json(st.registry.namespaces(&p, &page).await?.into()))
}

/// One namespace.
#[utoipa::path(get, path = "/v1/namespaces/{ns}", tag = "namespaces",
    params(NsPath),
    responses((status = 200, body = NamespaceView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
) -> Result<Json<NamespaceView>, ApiError> {
    let permit = authorize::<Read>(&p, &ns)?;
    Ok(Json(st.registry.namespace(&permit).await?.into()))
}

impl From<Membership> for Member {
    fn from(m: Membership) -> Self {
        Self {
            namespace: m.scope,
            principal: m.principal,
            roles: m.roles,
        }
    }
}

list_of!(MemberList, Membership, Member::from);

/// Sets a principal's roles in a namespace (admin, maintainer); `*` holds global roles (admin).
#[utoipa::path(put, path = "/v1/namespaces/{ns}/members/{principal}", tag = "namespaces",
    params(MemberPath),
    request_body = SetRoles,
    responses((status = 200, body = Member), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`role_not_allowed`: a role that cannot be bound there (`admin` in a namespace); `reserved_principal`: an `oidc:` principal, whose roles are its trusted publisher's")))]
pub async fn put_member(
    State(st): State<AppState>,
    p: Principal,
    MemberPath(scope, principal): MemberPath,
    ApiJson(req): ApiJson<SetRoles>,
) -> Result<Json<Member>, ApiError> {
    let permit = authorize_scope::<Manage>(&p, &scope)?;
    let member = st.access.set_roles(&permit, &principal, &req.roles).await?;
    Ok(Json(member.into()))
}

/// Members of a namespace and their roles (members, admin).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/members", tag = "namespaces",
    params(ScopePath, PageQuery),
    responses((status = 200, body = MemberList), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(st): State<AppState>,
    p: Principal,
    ScopePath(scope): ScopePath,
    Paging(_no_filter, page): Paging,
) -> Result<Json<MemberList>, ApiError> {
    Ok(Json(st.access.members(&p, &scope, &page).await?.into()))
}

/// Removes all of a principal's roles in a namespace (admin, maintainer).
#[utoipa::path(delete, path = "/v1/namespaces/{ns}/members/{principal}", tag = "namespaces",
    params(MemberPath),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_member(
    State(st): State<AppState>,
    p: Principal,
    MemberPath(scope, principal): MemberPath,
) -> Result<StatusCode, ApiError> {
    let permit = authorize_scope::<Manage>(&p, &scope)?;
    st.access.remove_member(&permit, &principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A namespace's promotion policy (defaults filled in).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/policy", tag = "namespaces",
    params(NsPath),
    responses((status = 200, body = NamespacePolicy), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
) -> Result<Json<NamespacePolicy>, ApiError> {
    let permit = authorize::<Read>(&p, &ns)?;
    Ok(Json(st.trust.policy(&permit).await?))
}

/// Replaces a namespace's promotion policy (admin, maintainer).
#[utoipa::path(put, path = "/v1/namespaces/{ns}/policy", tag = "namespaces",
    params(NsPath), request_body = NamespacePolicy,
    responses((status = 200, body = NamespacePolicy), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_rule`: a condition of `attestations_required` is not Rego that compiles")))]
pub async fn put_policy(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
    ApiJson(policy): ApiJson<NamespacePolicy>,
) -> Result<Json<NamespacePolicy>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    Ok(Json(st.trust.set_policy(&permit, policy).await?))
}

//! Identity and namespaces.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, NsPath, PageQuery, next_cursor};
use super::views::{NamespaceList, NamespaceView, RoleView, WhoAmI};
use crate::auth::{Action, GLOBAL, Principal, Resource, Role, Scope, authorize};
use crate::names::{Namespace, PrincipalName};
use crate::registry::promotion::NamespacePolicy;
use crate::store::Visibility;

/// The caller's principal, token and roles.
#[utoipa::path(get, path = "/v1/whoami", tag = "identity",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(p: Principal) -> Result<Json<WhoAmI>, ApiError> {
    authorize(&p, Action::Read, Resource::OwnedBy(&p.name))?;
    Ok(Json(WhoAmI {
        principal: p.name.clone(),
        token_id: p.token_id,
        roles: p
            .bindings()
            .iter()
            .map(|b| RoleView {
                namespace: b.namespace.clone(),
                role: b.role.clone(),
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespace {
    #[schema(value_type = String)]
    pub name: Namespace,
    #[serde(default)]
    pub description: String,
}

/// Creates a namespace (admin).
#[utoipa::path(post, path = "/v1/namespaces", tag = "namespaces", request_body = CreateNamespace,
    responses((status = 201, body = NamespaceView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<CreateNamespace>,
) -> Result<(StatusCode, Json<NamespaceView>), ApiError> {
    let permit = authorize(&p, Action::CreateNamespace, Resource::Global)?;
    if req.description.len() > 4096 {
        return Err(ApiError::invalid("description is limited to 4096 bytes"));
    }
    let ns = st
        .registry
        .create_namespace(&permit, &p, &req.name, req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(ns.into())))
}

/// Namespaces the caller may see.
#[utoipa::path(get, path = "/v1/namespaces", tag = "namespaces", params(PageQuery),
    responses((status = 200, body = NamespaceList)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<NamespaceList>, ApiError> {
    let limit = page.limit()?;
    let vis = if p.sees_all_namespaces()? {
        Visibility::All
    } else {
        Visibility::MemberOf(p.name.clone())
    };
    let items = st
        .registry
        .store
        .list_namespaces(&vis, &page.cursor()?, limit)
        .await?;
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|n| n.name.clone()),
    );
    Ok(Json(NamespaceList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One namespace.
#[utoipa::path(get, path = "/v1/namespaces/{ns}", tag = "namespaces",
    params(("ns" = String, Path)),
    responses((status = 200, body = NamespaceView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
) -> Result<Json<NamespaceView>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&ns))?;
    Ok(Json(
        st.registry.store.get_namespace(ns.as_str()).await?.into(),
    ))
}

/// The namespace part of a members route: a namespace, or `*` for global roles.
enum MemberScope {
    Global,
    Namespace(Namespace),
}

impl MemberScope {
    fn parse(s: &str) -> Result<Self, ApiError> {
        if s == GLOBAL {
            Ok(Self::Global)
        } else {
            Ok(Self::Namespace(Namespace::parse(s)?))
        }
    }

    fn resource(&self) -> Resource<'_> {
        match self {
            Self::Global => Resource::Global,
            Self::Namespace(ns) => Resource::Namespace(ns),
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Global => GLOBAL,
            Self::Namespace(ns) => ns.as_str(),
        }
    }

    fn scope(&self) -> Scope {
        match self {
            Self::Global => Scope::Global,
            Self::Namespace(_) => Scope::Namespace,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// Replaces the principal's roles in the namespace. In a namespace: maintainer,
    /// publisher, approver, deployer, auditor, reader; in `*`: admin, auditor.
    pub roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    pub namespace: String,
    pub principal: String,
    pub roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
    pub next_cursor: Option<String>,
}

/// Sets a principal's roles in a namespace (admin, maintainer); `*` holds global roles (admin).
#[utoipa::path(put, path = "/v1/namespaces/{ns}/members/{principal}", tag = "namespaces",
    params(("ns" = String, Path, description = "A namespace, or `*` for global roles"),
        ("principal" = String, Path)),
    request_body = SetRoles,
    responses((status = 200, body = Member), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_member(
    State(st): State<AppState>,
    p: Principal,
    Path((ns, principal)): Path<(String, String)>,
    ApiJson(req): ApiJson<SetRoles>,
) -> Result<Json<Member>, ApiError> {
    let scope = MemberScope::parse(&ns)?;
    let principal = PrincipalName::parse(&principal)?;
    authorize(&p, Action::Manage, scope.resource())?;
    let mut roles = Vec::new();
    for r in &req.roles {
        let role = Role::parse(r)
            .filter(|role| role.bindable(scope.scope()))
            .ok_or_else(|| {
                ApiError::invalid(format!("role {r:?} cannot be bound in {}", scope.name()))
            })?;
        roles.push(role.as_str().to_owned());
    }
    roles.sort();
    roles.dedup();
    if let MemberScope::Namespace(ns) = &scope {
        st.access.store.get_namespace(ns.as_str()).await?;
    }
    st.access
        .store
        .set_roles(principal.as_str(), scope.name(), &roles, Utc::now())
        .await?;
    Ok(Json(Member {
        namespace: scope.name().to_owned(),
        principal: principal.to_string(),
        roles,
    }))
}

/// Members of a namespace and their roles (members, admin).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/members", tag = "namespaces",
    params(("ns" = String, Path, description = "A namespace, or `*` for global roles"), PageQuery),
    responses((status = 200, body = MemberList), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(st): State<AppState>,
    p: Principal,
    Path(ns): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<MemberList>, ApiError> {
    let scope = MemberScope::parse(&ns)?;
    let read = match &scope {
        // Global bindings are the admins' business.
        MemberScope::Global => Action::Manage,
        MemberScope::Namespace(_) => Action::Read,
    };
    authorize(&p, read, scope.resource())?;
    let limit = page.limit()?;
    let bindings = st
        .access
        .store
        .members(scope.name(), &page.cursor()?, limit)
        .await?;
    let mut items: Vec<Member> = Vec::new();
    for b in bindings {
        match items.last_mut() {
            Some(m) if m.principal == b.principal => m.roles.push(b.role),
            _ => items.push(Member {
                namespace: b.namespace,
                principal: b.principal,
                roles: vec![b.role],
            }),
        }
    }
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|m| m.principal.clone()),
    );
    Ok(Json(MemberList {
        items,
        next_cursor: next,
    }))
}

/// Removes all of a principal's roles in a namespace (admin, maintainer).
#[utoipa::path(delete, path = "/v1/namespaces/{ns}/members/{principal}", tag = "namespaces",
    params(("ns" = String, Path), ("principal" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_member(
    State(st): State<AppState>,
    p: Principal,
    Path((ns, principal)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let scope = MemberScope::parse(&ns)?;
    let principal = PrincipalName::parse(&principal)?;
    authorize(&p, Action::Manage, scope.resource())?;
    st.access
        .store
        .remove_member(scope.name(), principal.as_str())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A namespace's promotion policy (defaults filled in).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/policy", tag = "namespaces",
    params(("ns" = String, Path)),
    responses((status = 200, body = NamespacePolicy), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
) -> Result<Json<NamespacePolicy>, ApiError> {
    authorize(&p, Action::Read, Resource::Namespace(&ns))?;
    Ok(Json(st.registry.policy(ns.as_str()).await?))
}

/// Replaces a namespace's promotion policy (admin, maintainer).
#[utoipa::path(put, path = "/v1/namespaces/{ns}/policy", tag = "namespaces",
    params(("ns" = String, Path)), request_body = NamespacePolicy,
    responses((status = 200, body = NamespacePolicy), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_policy(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
    ApiJson(policy): ApiJson<NamespacePolicy>,
) -> Result<Json<NamespacePolicy>, ApiError> {
    authorize(&p, Action::Manage, Resource::Namespace(&ns))?;
    if policy.min_signatures == 0 || policy.min_signatures > 16 {
        return Err(ApiError::invalid("min_signatures must be between 1 and 16"));
    }
    let stored = serde_json::to_value(&policy).map_err(crate::error::Error::internal)?;
    st.registry.store.set_policy(ns.as_str(), &stored).await?;
    Ok(Json(policy))
}

//! Identity and namespaces.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, NsPath, PageQuery, next_cursor};
use super::views::{NamespaceList, NamespaceView, RoleView, WhoAmI};
use crate::auth::{Action, Principal, Resource, authorize};
use crate::names::Namespace;
use crate::store::Visibility;

/// The caller's principal, token and roles.
#[utoipa::path(get, path = "/v1/whoami", tag = "identity",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(p: Principal) -> Json<WhoAmI> {
    Json(WhoAmI {
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
    })
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
    let vis = if p.is_admin() {
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

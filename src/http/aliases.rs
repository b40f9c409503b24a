//! Aliases: promotion, resolution, removal, history.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, PageQuery, Paging};
use super::paths::{AliasPath, VersionPath};
use super::views::{VersionView, list_of};
use crate::api::{
    AliasGate, AliasHistory, AliasMoveView, GateView, MoveAlias, PullGate, RegistryKeyView,
};
use crate::auth::{Principal, Promote, Read, authorize};
use crate::names::{Reason, VersionNumber};
use crate::trust::AliasMove;
use serde_json::value::RawValue;

/// Points an alias at a version: a promotion (approver). Refused with 409
/// `promotion_refused` and every reason unless the version passes the gate now.
#[utoipa::path(put, path = "/v1/models/{ns}/{model}/aliases/{alias}", tag = "signing", operation_id = "put_alias",
    params(AliasPath),
    request_body = MoveAlias,
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`promotion_refused` with `reasons`: \
            not_sealed, unsigned, signature_invalid, key_revoked, insufficient_signatures, \
            lineage_incomplete, quarantined, unsafe_format, unknown_format, content_only")))]
pub async fn put(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
    ApiJson(req): ApiJson<MoveAlias>,
) -> Result<Json<VersionView>, ApiError> {
    let permit = authorize::<Promote>(&p, &model.namespace)?;
    let promoted = st
        .trust
        .promote(&permit, &model.name, &alias, req.version, req.reason)
        .await?;
    Ok(Json(promoted.into()))
}

/// The version an alias points at (how deployers resolve `production`).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/aliases/{alias}", tag = "signing", operation_id = "get_alias",
    params(AliasPath),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
) -> Result<Json<VersionView>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    Ok(Json(
        st.trust.resolve(&permit, &model.name, &alias).await?.into(),
    ))
}

/// A version's standing now: per alias its namespace's policy names or its
/// model uses, whether promotion would pass and every reason it would not;
/// and whether a deployer may pull it.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/gate", tag = "signing", operation_id = "get_gate",
    params(VersionPath),
    responses((status = 200, body = GateView), (status = 404, body = ErrorBody)))]
pub async fn gate(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<GateView>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let panel = st.trust.gate_panel(&permit, &model.name, number).await?;
    Ok(Json(GateView {
        namespace: model.namespace.to_string(),
        model: model.name.to_string(),
        version: number.get(),
        aliases: panel
            .gates
            .into_iter()
            .map(|(alias, reasons)| AliasGate {
                alias: alias.to_string(),
                passes: reasons.is_empty(),
                reasons,
            })
            .collect(),
        deployers: PullGate {
            may_pull: panel.pull.is_empty(),
            reasons: panel.pull,
        },
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveAliasQuery {
    /// Why, for the history.
    #[param(inline)]
    pub reason: Option<Reason>,
}

/// Removes an alias (approver); recorded in its history.
#[utoipa::path(delete, path = "/v1/models/{ns}/{model}/aliases/{alias}", tag = "signing", operation_id = "delete_alias",
    params(AliasPath, RemoveAliasQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
    ApiQuery(q): ApiQuery<RemoveAliasQuery>,
) -> Result<StatusCode, ApiError> {
    let permit = authorize::<Promote>(&p, &model.namespace)?;
    let reason = q.reason.unwrap_or_default();
    st.trust
        .remove_alias(&permit, &model.name, &alias, reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<AliasMove> for AliasMoveView {
    fn from(m: AliasMove) -> Self {
        Self {
            version: m.version.map(VersionNumber::get),
            previous_version: m.previous_version.map(VersionNumber::get),
            principal: m.principal.to_string(),
            reason: m.reason,
            at: m.at,
            record: m.record.and_then(|r| RawValue::from_string(r).ok()),
        }
    }
}

/// The registry's own public key (every signed-in principal): it verifies
/// the promotion records of the alias histories, with plain DSSE.
#[utoipa::path(get, path = "/v1/registry/key", tag = "signing", operation_id = "registry_key",
    responses((status = 200, body = RegistryKeyView), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`records_unavailable`: no registry key (PostgreSQL without `SIGNET_REGISTRY_KEY_FILE`)")))]
pub async fn registry_key(
    State(st): State<AppState>,
    _p: Principal,
) -> Result<Json<RegistryKeyView>, ApiError> {
    let k = st.trust.registry_key()?;
    Ok(Json(RegistryKeyView {
        keyid: k.keyid,
        algorithm: k.algorithm.as_str().to_owned(),
        public_key: k.public_key,
        predicate_type: crate::trust::PROMOTION_PREDICATE.to_owned(),
    }))
}

list_of!(AliasHistory, AliasMove, AliasMoveView::from);

/// Every move of an alias, newest first.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/aliases/{alias}/history", tag = "signing", operation_id = "alias_history",
    params(AliasPath, PageQuery),
    responses((status = 200, body = AliasHistory), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(st): State<AppState>,
    p: Principal,
    AliasPath(model, alias): AliasPath,
    Paging(_no_filter, page): Paging,
) -> Result<Json<AliasHistory>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let moves = st
        .trust
        .alias_history(&permit, &model.name, Some(&alias), &page)
        .await?;
    Ok(Json(moves.into()))
}

//! Webhooks: a namespace's subscriptions to the registry's events (its
//! maintainers and admins manage them), their deliveries and redelivery.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, PageQuery, Paging};
use super::paths::{DeliveryPath, NsPath, WebhookPath};
use crate::api::{
    CreateWebhook, Delivery, DeliveryAttempt, DeliveryList, UpdateWebhook, Webhook, WebhookCreated,
    WebhookList,
};
use crate::auth::{Manage, Principal, authorize};
use crate::kinds::DeliveryState;
use crate::webhooks::service::message_id;
use crate::webhooks::{AttemptRecord, DeliveryRecord, WebhookRecord};

impl From<WebhookRecord> for Webhook {
    fn from(w: WebhookRecord) -> Self {
        Self {
            id: w.id,
            namespace: w.namespace.to_string(),
            url: w.url,
            event_types: w.event_types,
            description: w.description,
            active: w.active,
            disabled_reason: w.disabled_reason,
            created_at: w.created_at,
            created_by: w.created_by.to_string(),
            updated_at: w.updated_at,
        }
    }
}

impl From<AttemptRecord> for DeliveryAttempt {
    fn from(a: AttemptRecord) -> Self {
        Self {
            n: a.n,
            at: a.at,
            status: a.status,
            duration_ms: a.duration_ms,
            error: a.error,
            excerpt: a.excerpt,
        }
    }
}

fn delivery((d, attempts): (DeliveryRecord, Vec<AttemptRecord>)) -> Delivery {
    Delivery {
        id: d.id,
        message_id: message_id(d.id),
        event_type: d.event_type,
        log_seq: d.seq,
        state: d.state,
        created_at: d.created_at,
        next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
        attempts: attempts.into_iter().map(Into::into).collect(),
    }
}

/// Subscribes a namespace to events (admin, maintainer). The answer shows
/// the signing secret, this once.
#[utoipa::path(post, path = "/v1/namespaces/{ns}/webhooks", tag = "webhooks",
    params(NsPath), request_body = CreateWebhook,
    responses((status = 201, body = WebhookCreated),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_webhook`: a target the SSRF \
            guard refuses (not https, an internal address, credentials in the URL), an \
            unknown event type"),
        (status = 503, body = ErrorBody, description = "`webhooks_unavailable`: no key to \
            seal secrets with")))]
pub async fn create(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
    ApiJson(req): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    let (w, secret) = st.webhooks.create(&permit, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated {
            webhook: w.into(),
            secret: secret.expose(),
        }),
    ))
}

/// A namespace's webhooks (admin, maintainer).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/webhooks", tag = "webhooks",
    params(NsPath),
    responses((status = 200, body = WebhookList), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    NsPath(ns): NsPath,
) -> Result<Json<WebhookList>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    let items = st.webhooks.list(&permit).await?;
    Ok(Json(WebhookList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One webhook (admin, maintainer).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, body = Webhook), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    WebhookPath(ns, id): WebhookPath,
) -> Result<Json<Webhook>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    Ok(Json(st.webhooks.get(&permit, id).await?.into()))
}

/// Changes a webhook (admin, maintainer): its target, event types,
/// description, or whether it is active.
#[utoipa::path(patch, path = "/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath), request_body = UpdateWebhook,
    responses((status = 200, body = Webhook), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_webhook`"),
        (status = 503, body = ErrorBody, description = "`webhooks_unavailable`")))]
pub async fn update(
    State(st): State<AppState>,
    p: Principal,
    WebhookPath(ns, id): WebhookPath,
    ApiJson(req): ApiJson<UpdateWebhook>,
) -> Result<Json<Webhook>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    Ok(Json(st.webhooks.update(&permit, id, req).await?.into()))
}

/// Removes a webhook with its deliveries (admin, maintainer).
#[utoipa::path(delete, path = "/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    p: Principal,
    WebhookPath(ns, id): WebhookPath,
) -> Result<StatusCode, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    st.webhooks.delete(&permit, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a `dev.signet.webhook.ping` event now and answers with the
/// attempt (admin, maintainer); the subscription's queue is untouched.
#[utoipa::path(post, path = "/v1/namespaces/{ns}/webhooks/{id}/test", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, body = Delivery, description = "the test's delivery: \
            `delivered`, or `failed` with the attempt's error"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`webhooks_unavailable`")))]
pub async fn test(
    State(st): State<AppState>,
    p: Principal,
    WebhookPath(ns, id): WebhookPath,
) -> Result<Json<Delivery>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    Ok(Json(delivery(st.webhooks.test(&permit, id).await?)))
}

/// A webhook's deliveries, newest first, with every attempt (admin,
/// maintainer).
#[utoipa::path(get, path = "/v1/namespaces/{ns}/webhooks/{id}/deliveries", tag = "webhooks",
    params(WebhookPath, PageQuery),
    responses((status = 200, body = DeliveryList),
        (status = 400, body = ErrorBody, description = "an invalid `limit` or `cursor`"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(st): State<AppState>,
    p: Principal,
    WebhookPath(ns, id): WebhookPath,
    Paging(_no_filter, page): Paging,
) -> Result<Json<DeliveryList>, ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    let paged = st.webhooks.deliveries(&permit, id, &page).await?;
    let paged = paged.map(delivery);
    Ok(Json(DeliveryList {
        items: paged.items,
        next_cursor: paged.next_cursor,
    }))
}

/// Queues a delivery again, due now, with the same `webhook-id` (admin,
/// maintainer).
#[utoipa::path(post, path = "/v1/namespaces/{ns}/webhooks/{id}/deliveries/{delivery}/redeliver",
    tag = "webhooks", params(DeliveryPath),
    responses((status = 202, body = Delivery, description = "queued"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn redeliver(
    State(st): State<AppState>,
    p: Principal,
    DeliveryPath(ns, id, d): DeliveryPath,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let permit = authorize::<Manage>(&p, &ns)?;
    let queued = st.webhooks.redeliver(&permit, id, d).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery((queued, Vec::new())))))
}

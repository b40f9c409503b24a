//! Webhooks: a namespace's subscriptions to the registry's events, their
//! deliveries and the attempts at them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::kinds::DeliveryState;

/// A new subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are posted: `https` (plain `http` and internal addresses
    /// only where the operator allows them with `SIGNET_WEBHOOK_ALLOW`).
    #[schema(max_length = 2048, example = "https://deploy.example.com/signet")]
    pub url: String,
    /// The event types wanted (`dev.signet.version.sealed`,
    /// `dev.signet.signature.added`, `dev.signet.alias.moved`,
    /// `dev.signet.promotion.refused`, `dev.signet.key.revoked`,
    /// `dev.signet.quarantine.placed`, `dev.signet.quarantine.lifted`,
    /// `dev.signet.alert.extraction`).
    #[schema(min_items = 1, max_items = 16)]
    pub event_types: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// A change to a subscription; what is left out stays.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(min_items = 1, max_items = 16)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// `false` stops deliveries (they wait); `true` starts them again, from
    /// where they stopped, after the registry disabled it or someone did.
    #[serde(default)]
    pub active: Option<bool>,
}

/// A subscription (its secret is shown only when made).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub namespace: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub active: bool,
    /// Why it is disabled: its deliveries failed for the whole retry window,
    /// or someone disabled it.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A subscription just made, with its signing secret: shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: the Standard Webhooks signing secret. Kept sealed by the
    /// registry and never shown again.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub n: i32,
    pub at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    pub status: Option<i32>,
    pub duration_ms: i64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The start of the receiver's answer (256 bytes at most, escaped).
    pub excerpt: String,
}

/// One message to a subscription: every attempt at it, newest last.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    /// The message's `webhook-id` (the same at every attempt).
    pub message_id: String,
    pub event_type: String,
    /// The access log event it carries (none for a test).
    pub log_seq: Option<i64>,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

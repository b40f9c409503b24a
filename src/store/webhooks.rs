//! Subscriptions: a namespace's subscriptions, the deliveries queued for each (the
//! access log is the outbox: a subscription's position in it advances in the
//! transaction that queues what matched) and every attempt at them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::kinds::DeliveryState;
use crate::names::{Namespace, PrincipalName};
use crate::store::Pending;

/// A subscription as kept: its secret only sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub id: Uuid,
    pub namespace: Namespace,
    pub url: String,
    /// The CloudEvents types it wants (`dev.signet.…`), sorted.
    pub event_types: Vec<String>,
    pub description: String,
    pub sealed_secret: Vec<u8>,
    pub active: bool,
    /// Why it was disabled (by the registry after failures, or by whom).
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
    pub updated_at: DateTime<Utc>,
}

/// What an update changes (the rest stays).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `Some(None)`: enabled again; `Some(Some(reason))`: disabled.
    pub disabled: Option<Option<String>>,
}

/// One message to one subscription.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The access log event it carries (none for a test).
    pub seq: Option<i64>,
    pub event_type: String,
    /// The CloudEvent as delivered, the same at every attempt.
    pub body: Vec<u8>,
    pub state: DeliveryState,
    pub attempts: i32,
    /// When its retries began (its queueing, or its redelivery).
    pub retry_since: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub n: i32,
    pub at: DateTime<Utc>,
    pub status: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub excerpt: String,
}

/// What one turn queues for one subscription: the deliveries of the events
/// it wants up to `position`, the last event read.
#[derive(Debug, Clone)]
pub struct Queued {
    pub webhook: Uuid,
    pub position: i64,
    pub deliveries: Vec<DeliveryRecord>,
}

/// What an attempt leaves a delivery as.
#[derive(Debug, Clone)]
pub enum AfterAttempt {
    Delivered,
    /// Tried again at that time.
    Retry(DateTime<Utc>),
    /// Given up: the delivery failed, and the subscription is disabled with
    /// that reason.
    Failed(String),
}

#[async_trait]
pub trait Subscriptions: Send + Sync {
    /// Keeps a new subscription, starting after the log's newest event
    /// (`NotFound` when the namespace is gone).
    async fn create_webhook(&self, w: &WebhookRecord, audit: &Pending) -> Result<()>;
    /// A namespace's subscriptions, oldest first.
    async fn webhooks(&self, ns: &Namespace) -> Result<Vec<WebhookRecord>>;
    /// One of a namespace's subscriptions (`NotFound` when it is another's).
    async fn webhook(&self, ns: &Namespace, id: Uuid) -> Result<WebhookRecord>;
    /// Changes a subscription; the changed record.
    async fn update_webhook(
        &self,
        ns: &Namespace,
        id: Uuid,
        change: &WebhookChange,
        at: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<WebhookRecord>;
    /// Removes a subscription with its deliveries.
    async fn delete_webhook(&self, ns: &Namespace, id: Uuid, audit: &Pending) -> Result<()>;
    /// Every active subscription, in every namespace.
    async fn active_webhooks(&self) -> Result<Vec<WebhookRecord>>;
    /// Takes or renews `owner`'s lease, until `until`, on every active
    /// subscription no other owner's lease holds: each as it stands, with
    /// its position in the log.
    async fn lease_webhooks(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(WebhookRecord, i64)>>;
    /// For each (subscription, position, deliveries) that `owner` still
    /// holds: queues the deliveries and moves its position there, all in
    /// one transaction.
    async fn enqueue(&self, owner: &str, batch: &[Queued]) -> Result<()>;
    /// The subscription's oldest pending delivery.
    async fn next_delivery(&self, webhook: Uuid) -> Result<Option<DeliveryRecord>>;
    /// Records an attempt and what it leaves the delivery as (a failure also
    /// disables its subscription).
    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempt: &AttemptRecord,
        after: &AfterAttempt,
    ) -> Result<()>;
    /// Keeps a delivery with its one attempt (a test).
    async fn record_test(
        &self,
        delivery: &DeliveryRecord,
        attempt: &AttemptRecord,
        audit: &Pending,
    ) -> Result<()>;
    /// A subscription's deliveries, newest first, before the id `before`,
    /// with their attempts.
    async fn deliveries(
        &self,
        webhook: Uuid,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<(DeliveryRecord, Vec<AttemptRecord>)>>;
    /// Queues a failed or delivered message again, with the same id, due now
    /// (`NotFound` when it is not the subscription's; a pending one stays).
    async fn redeliver(
        &self,
        webhook: Uuid,
        delivery: Uuid,
        now: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<DeliveryRecord>;
    /// Gives up `owner`'s leases.
    async fn release_webhooks(&self, owner: &str) -> Result<()>;
}

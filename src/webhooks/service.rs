//! A namespace's subscriptions, as its maintainers manage them: their rules
//! (a target the SSRF policy admits, known event types), their secrets
//! (made here, shown once, kept sealed), a test delivery, the deliveries and
//! their redelivery.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::deliver::{Attempt, Deliverer, Message};
use super::event::{CloudEvent, EventType};
use super::guard::Policy;
use super::seal::SealingKey;
use super::signature::Secret;
use crate::api::{CreateWebhook, UpdateWebhook};
use crate::auth::{Manage, Permit};
use crate::error::{Error, Result};
use crate::kinds::DeliveryState;
use crate::page::{Page, Paged};
use crate::store::{AttemptRecord, DeliveryRecord, Subscriptions, WebhookChange, WebhookRecord};

/// Most event types a subscription names.
const MAX_TYPES: usize = 16;
/// Longest description, in bytes.
const MAX_DESCRIPTION: usize = 1024;

/// What webhooks need to run: the key their secrets are sealed with, the
/// delivery policy and client, and the registry's URL (events' `source`).
pub struct Hooks {
    pub key: Arc<SealingKey>,
    pub policy: Policy,
    pub deliverer: Arc<Deliverer>,
    pub source: String,
}

pub struct Webhooks {
    subs: Arc<dyn Subscriptions>,
    /// Why webhooks are off, when they are.
    hooks: std::result::Result<Arc<Hooks>, String>,
}

/// A delivery with its attempts.
pub type DeliveryWithAttempts = (DeliveryRecord, Vec<AttemptRecord>);

impl Webhooks {
    pub fn new(
        subs: Arc<dyn Subscriptions>,
        hooks: std::result::Result<Arc<Hooks>, String>,
    ) -> Self {
        Self { subs, hooks }
    }

    fn hooks(&self) -> Result<&Arc<Hooks>> {
        self.hooks
            .as_ref()
            .map_err(|why| Error::WebhooksUnavailable(why.clone()))
    }

    /// Subscribes the permit's namespace; the new subscription and its
    /// secret (shown once).
    pub async fn create(
        &self,
        permit: &Permit<Manage>,
        spec: CreateWebhook,
    ) -> Result<(WebhookRecord, Secret)> {
        let hooks = self.hooks()?;
        let url = checked_url(&hooks.policy, &spec.url)?;
        let event_types = checked_types(&spec.event_types)?;
        let description = checked_description(spec.description.unwrap_or_default())?;
        let secret = Secret::generate()?;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let record = WebhookRecord {
            id,
            namespace: permit.namespace().clone(),
            url,
            event_types,
            description,
            sealed_secret: hooks.key.seal(id, &secret)?,
            active: true,
            disabled_reason: None,
            created_at: now,
            created_by: permit.by().clone(),
            updated_at: now,
        };
        permit.record("webhook", id.to_string().into());
        self.subs
            .create_webhook(&record, &permit.pending())
            .await
            .map_err(|e| e.named(|| format!("namespace {}", permit.namespace())))?;
        Ok((record, secret))
    }

    pub async fn list(&self, permit: &Permit<Manage>) -> Result<Vec<WebhookRecord>> {
        self.subs.webhooks(permit.namespace()).await
    }

    pub async fn get(&self, permit: &Permit<Manage>, id: Uuid) -> Result<WebhookRecord> {
        self.subs
            .webhook(permit.namespace(), id)
            .await
            .map_err(|e| e.named(|| format!("webhook {id} in namespace {}", permit.namespace())))
    }

    /// Changes a subscription. Enabling one again resumes its deliveries
    /// where they stopped.
    pub async fn update(
        &self,
        permit: &Permit<Manage>,
        id: Uuid,
        spec: UpdateWebhook,
    ) -> Result<WebhookRecord> {
        let hooks = self.hooks()?;
        let change = WebhookChange {
            url: spec
                .url
                .map(|u| checked_url(&hooks.policy, &u))
                .transpose()?,
            event_types: spec.event_types.map(|t| checked_types(&t)).transpose()?,
            description: spec.description.map(checked_description).transpose()?,
            disabled: spec
                .active
                .map(|active| (!active).then(|| format!("disabled by {}", permit.by()))),
        };
        permit.record("webhook", id.to_string().into());
        self.subs
            .update_webhook(
                permit.namespace(),
                id,
                &change,
                Utc::now(),
                &permit.pending(),
            )
            .await
            .map_err(|e| e.named(|| format!("webhook {id} in namespace {}", permit.namespace())))
    }

    pub async fn delete(&self, permit: &Permit<Manage>, id: Uuid) -> Result<()> {
        permit.record("webhook", id.to_string().into());
        self.subs
            .delete_webhook(permit.namespace(), id, &permit.pending())
            .await
            .map_err(|e| e.named(|| format!("webhook {id} in namespace {}", permit.namespace())))
    }

    /// Sends a `dev.signet.webhook.ping` at once, outside the subscription's
    /// queue (its order is untouched), and keeps it with its one attempt.
    pub async fn test(&self, permit: &Permit<Manage>, id: Uuid) -> Result<DeliveryWithAttempts> {
        let hooks = self.hooks()?;
        let w = self.get(permit, id).await?;
        let secret = hooks.key.open(w.id, &w.sealed_secret)?;
        let now = Utc::now();
        let event = CloudEvent::new(
            Uuid::now_v7().to_string(),
            hooks.source.clone(),
            EventType::Ping,
            None,
            now,
            serde_json::json!({
                "webhook": w.id,
                "namespace": w.namespace.as_str(),
                "principal": permit.by().as_str(),
            }),
        );
        let mut d = DeliveryRecord {
            id: Uuid::now_v7(),
            webhook_id: w.id,
            seq: None,
            event_type: EventType::Ping.as_str().to_owned(),
            body: event.body(),
            state: DeliveryState::Pending,
            attempts: 1,
            retry_since: now,
            next_attempt_at: now,
            created_at: now,
        };
        let attempt = hooks
            .deliverer
            .attempt(&w.url, &secret, &message(&d), now.timestamp())
            .await;
        d.state = match attempt.delivered() {
            true => DeliveryState::Delivered,
            false => DeliveryState::Failed,
        };
        let a = attempt_record(1, now, &attempt);
        permit.record("webhook", id.to_string().into());
        self.subs.record_test(&d, &a, &permit.pending()).await?;
        Ok((d, vec![a]))
    }

    /// A subscription's deliveries, newest first.
    pub async fn deliveries(
        &self,
        permit: &Permit<Manage>,
        id: Uuid,
        page: &Page,
    ) -> Result<Paged<DeliveryWithAttempts>> {
        self.get(permit, id).await?;
        let before = page.after::<Uuid>()?;
        let items = self.subs.deliveries(id, before, page.limit()).await?;
        Ok(Paged::new(items, page, |(d, _)| d.id.to_string()))
    }

    /// Queues a delivery again, due now, with the same message id (its
    /// receiver deduplicates by it).
    pub async fn redeliver(
        &self,
        permit: &Permit<Manage>,
        id: Uuid,
        delivery: Uuid,
    ) -> Result<DeliveryRecord> {
        self.get(permit, id).await?;
        permit.record("webhook", id.to_string().into());
        permit.record("delivery", delivery.to_string().into());
        self.subs
            .redeliver(id, delivery, Utc::now(), &permit.pending())
            .await
            .map_err(|e| e.named(|| format!("delivery {delivery} of webhook {id}")))
    }
}

/// The message of a delivery: its `webhook-id` and body.
pub fn message(d: &DeliveryRecord) -> Message {
    Message {
        id: message_id(d.id),
        body: d.body.clone(),
    }
}

/// A delivery's `webhook-id`.
pub fn message_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// An attempt as kept.
pub fn attempt_record(n: i32, at: chrono::DateTime<Utc>, a: &Attempt) -> AttemptRecord {
    AttemptRecord {
        n,
        at,
        status: a.status.map(i32::from),
        duration_ms: i64::try_from(a.duration.as_millis()).unwrap_or(i64::MAX),
        error: a.error.clone(),
        excerpt: a.excerpt.clone(),
    }
}

fn checked_url(policy: &Policy, url: &str) -> Result<String> {
    match policy.target(url) {
        Ok(t) => Ok(t.url.to_string()),
        Err(Error::Invalid(why)) => Err(Error::InvalidWebhook(why)),
        Err(e) => Err(e),
    }
}

fn checked_types(types: &[String]) -> Result<Vec<String>> {
    if types.is_empty() || types.len() > MAX_TYPES {
        return Err(Error::InvalidWebhook(format!(
            "event_types: 1 to {MAX_TYPES} event types"
        )));
    }
    let mut out = types
        .iter()
        .map(|t| {
            EventType::parse(t)
                .map(|t| t.as_str().to_owned())
                .map_err(|e| Error::InvalidWebhook(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn checked_description(d: String) -> Result<String> {
    if d.len() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
        return Err(Error::InvalidWebhook(format!(
            "description: at most {MAX_DESCRIPTION} bytes, no control characters"
        )));
    }
    Ok(d)
}

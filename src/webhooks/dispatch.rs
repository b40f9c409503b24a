//! Delivery: the access log is the outbox. Each subscription keeps its
//! position in the log. A replica's turn takes the lease on every
//! subscription no other replica holds, reads the log once from the oldest
//! of their positions, and queues for each the events it wants after its
//! own position as deliveries, moving every position in the same
//! transaction. Then each leased subscription with a delivery due gets a
//! deliverer of its own (a slow receiver holds up no other), which delivers
//! in order: the next waits until the one before it is delivered or given
//! up. A failed attempt is tried again with exponential backoff for the
//! retry window (24 hours by default); then the delivery fails and the
//! subscription is disabled with the reason, its later deliveries waiting
//! until someone enables it again.
//!
//! Every replica runs a dispatcher; a subscription is delivered by the one
//! holding its lease (renewed at every turn, given up when the service
//! stops), so a replica that dies mid-delivery is taken over when its lease
//! lapses: at least once, in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::event::{CloudEvent, Emitted, emitted};
use super::service::{Hooks, attempt_record, message};
use crate::error::{Error, Result};
use crate::kinds::DeliveryState;
use crate::store::{AfterAttempt, AuditLog, DeliveryRecord, Queued, Subscriptions, WebhookRecord};

/// Log events read in one turn, at most.
const BATCH: i64 = 500;
/// Between turns when the log has been read to its end.
const IDLE: Duration = Duration::from_millis(500);
/// The first retry's wait; each further one doubles it, up to an hour (or
/// an eighth of a shorter retry window).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

pub struct Dispatcher {
    events: Arc<dyn AuditLog>,
    subs: Arc<dyn Subscriptions>,
    hooks: Arc<Hooks>,
    /// How long a delivery is retried before it fails.
    retry_for: Duration,
    /// How long a replica's hold on a subscription lasts without a turn:
    /// longer than a turn (an attempt's timeout and a few writes), short
    /// enough that a replica that died mid-delivery is soon taken over.
    lease: Duration,
    /// This replica, as leases name it.
    owner: String,
    /// The deliverers running here, by subscription.
    running: Mutex<HashMap<Uuid, tokio::task::JoinHandle<()>>>,
}

impl Dispatcher {
    pub fn new(
        events: Arc<dyn AuditLog>,
        subs: Arc<dyn Subscriptions>,
        hooks: Arc<Hooks>,
        retry_for: Duration,
        attempt_timeout: Duration,
    ) -> Self {
        Self {
            events,
            subs,
            hooks,
            retry_for,
            lease: attempt_timeout * 3 + Duration::from_secs(5),
            owner: Uuid::now_v7().to_string(),
            running: Mutex::default(),
        }
    }

    /// Delivers until the last holder of `self` is gone (the service
    /// stopped), then gives up its leases so another replica goes on at
    /// once.
    pub fn spawn(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let (subs, owner) = (self.subs.clone(), self.owner.clone());
        tracing::info!(replica = %self.owner, "delivering webhooks");
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let Some(d) = weak.upgrade() else {
                    let _ = subs.release_webhooks(&owner).await;
                    return;
                };
                let wait = match d.turn(&weak).await {
                    Ok(true) => Duration::ZERO,
                    Ok(false) => {
                        failures = 0;
                        IDLE
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, "webhooks: a turn failed; trying again");
                        IDLE.saturating_mul(1 << failures.min(6))
                    }
                };
                drop(d);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// One turn: leases, reads the log once for every leased subscription,
    /// queues, and starts a deliverer for each that has none here. Whether
    /// more of the log waits.
    async fn turn(&self, weak: &Weak<Self>) -> Result<bool> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(self.lease).map_err(Error::internal)?;
        let leased = self.subs.lease_webhooks(&self.owner, now, until).await?;
        let Some(from) = leased.iter().map(|(_, p)| *p).min() else {
            return Ok(false);
        };
        let events = self.events.audit_after(from, BATCH).await?;
        let more = events.len() as i64 == BATCH;
        if let Some(last) = events.last().map(|e| e.event.seq) {
            let meant: Vec<(i64, DateTime<Utc>, Emitted)> = events
                .iter()
                .filter_map(|e| {
                    let at = DateTime::parse_from_rfc3339(&e.event.at)
                        .map_or(now, |t| t.with_timezone(&Utc));
                    Some((e.event.seq, at, emitted(e)?))
                })
                .collect();
            let batch: Vec<Queued> = leased
                .iter()
                .filter(|(_, position)| *position < last)
                .map(|(w, position)| Queued {
                    webhook: w.id,
                    position: last,
                    deliveries: meant
                        .iter()
                        .filter(|(seq, _, m)| *seq > *position && wants(w, m))
                        .map(|(seq, at, m)| self.delivery(w, *seq, *at, m, now))
                        .collect(),
                })
                .collect();
            self.subs.enqueue(&self.owner, &batch).await?;
        }
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, task| !task.is_finished());
        for (w, _) in leased {
            running
                .entry(w.id)
                .or_insert_with(|| tokio::spawn(deliver(weak.clone(), w)));
        }
        Ok(more)
    }

    /// The delivery of a log event to a subscription.
    fn delivery(
        &self,
        w: &WebhookRecord,
        seq: i64,
        at: DateTime<Utc>,
        m: &Emitted,
        now: DateTime<Utc>,
    ) -> DeliveryRecord {
        let event = CloudEvent::new(
            seq.to_string(),
            self.hooks.source.clone(),
            m.kind,
            m.subject.clone(),
            at,
            m.data_for(w.namespace.as_str()),
        );
        DeliveryRecord {
            id: Uuid::now_v7(),
            webhook_id: w.id,
            seq: Some(seq),
            event_type: m.kind.as_str().to_owned(),
            body: event.body(),
            state: DeliveryState::Pending,
            attempts: 0,
            retry_since: now,
            next_attempt_at: now,
            created_at: now,
        }
    }

    /// One attempt at the subscription's oldest pending delivery, when it is
    /// due; whether another may follow at once.
    async fn attempt(&self, w: &WebhookRecord) -> Result<bool> {
        let now = Utc::now();
        let Some(d) = self.subs.next_delivery(w.id).await? else {
            return Ok(false);
        };
        if d.next_attempt_at > now {
            return Ok(false);
        }
        let secret = self.hooks.key.open(w.id, &w.sealed_secret)?;
        let attempt = self
            .hooks
            .deliverer
            .attempt(&w.url, &secret, &message(&d), now.timestamp())
            .await;
        let done = Utc::now();
        let n = d.attempts + 1;
        let after = if attempt.delivered() {
            AfterAttempt::Delivered
        } else if (done - d.retry_since).to_std().unwrap_or_default() >= self.retry_for {
            AfterAttempt::Failed(format!(
                "delivery {} failed for {} after {n} attempts (last: {})",
                d.id,
                humanize(self.retry_for),
                attempt.error.as_deref().unwrap_or("no answer")
            ))
        } else {
            AfterAttempt::Retry(done + self.backoff(n))
        };
        crate::metrics::webhook_attempt(attempt.delivered());
        if let AfterAttempt::Failed(why) = &after {
            tracing::warn!(webhook = %w.id, reason = %why, "webhook disabled");
        }
        self.subs
            .record_attempt(&d, &attempt_record(n, now, &attempt), &after)
            .await?;
        Ok(matches!(after, AfterAttempt::Delivered))
    }

    /// The wait after the `n`th failed attempt.
    fn backoff(&self, n: i32) -> chrono::Duration {
        let cap = MAX_BACKOFF.min(self.retry_for / 8);
        let exp = FIRST_BACKOFF.saturating_mul(1u32 << (n - 1).clamp(0, 20));
        chrono::Duration::from_std(exp.min(cap)).unwrap_or_default()
    }
}

/// Whether a subscription wants an event.
fn wants(w: &WebhookRecord, m: &Emitted) -> bool {
    m.reaches(w.namespace.as_str()) && w.event_types.iter().any(|t| t == m.kind.as_str())
}

/// A subscription's deliverer here: delivers what is due, in order, as the
/// subscription stands now (read again before each attempt), until nothing
/// is due, it is disabled or gone, or the service stops. The turn after
/// starts another when more is due.
async fn deliver(weak: Weak<Dispatcher>, w: WebhookRecord) {
    loop {
        let Some(d) = weak.upgrade() else { return };
        let current = match d.subs.webhook(&w.namespace, w.id).await {
            Ok(current) if current.active => current,
            Ok(_) | Err(Error::NotFound) => return,
            Err(e) => {
                tracing::warn!(webhook = %w.id, error = %e, "webhooks: cannot read the subscription");
                return;
            }
        };
        match d.attempt(&current).await {
            Ok(true) => continue,
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(webhook = %w.id, error = %e, "webhooks: an attempt failed to record");
                return;
            }
        }
    }
}

fn humanize(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        _ => format!("{} s", d.as_secs_f64()),
    }
}

//! Delivery: the access log is the outbox. Each subscription keeps its
//! position in the log; a turn reads what came after it, queues the events
//! the subscription wants as deliveries (moving the position in the same
//! transaction), then delivers the oldest pending one. Deliveries go in
//! order: the next waits until the one before it is delivered or given up.
//! A failed attempt is tried again with exponential backoff for the retry
//! window (24 hours by default); then the delivery fails and the
//! subscription is disabled with the reason, its later deliveries waiting
//! until someone enables it again.
//!
//! Every replica runs a dispatcher; a subscription is delivered by the one
//! holding its lease (renewed at every turn, given up when the service
//! stops), so a replica that dies mid-delivery is taken over when its lease
//! lapses: at least once, in order.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::event::{CloudEvent, emitted};
use super::service::{Hooks, attempt_record, message};
use crate::error::{Error, Result};
use crate::kinds::DeliveryState;
use crate::store::{AfterAttempt, AuditLog, DeliveryRecord, Subscriptions};

/// Log events read in one turn, at most.
const BATCH: i64 = 500;
/// Between turns when a subscription has nothing due.
const IDLE: Duration = Duration::from_millis(500);
/// Between looks for subscriptions without a deliverer here.
const SURVEY: Duration = Duration::from_secs(1);
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
}

/// What a turn leaves to do.
enum Next {
    /// Another turn after this wait.
    After(Duration),
    /// The subscription is another replica's, disabled or gone.
    Stop,
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
        }
    }

    /// Delivers until the last holder of `self` is gone (the service
    /// stopped): every second, starts a deliverer for each active
    /// subscription that has none here.
    pub fn spawn(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tracing::info!(replica = %self.owner, "delivering webhooks");
        tokio::spawn(async move {
            let mut running: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
            loop {
                let Some(d) = weak.upgrade() else { return };
                running.retain(|_, task| !task.is_finished());
                match d.subs.active_webhooks().await {
                    Ok(active) => {
                        for w in active {
                            running
                                .entry(w.id)
                                .or_insert_with(|| tokio::spawn(deliver(weak.clone(), w.id)));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhooks: cannot list subscriptions"),
                }
                drop(d);
                tokio::time::sleep(SURVEY).await;
            }
        });
    }

    /// One turn for one subscription.
    async fn turn(&self, id: Uuid) -> Result<Next> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(self.lease).map_err(Error::internal)?;
        let Some((w, position)) = self.subs.lease_webhook(id, &self.owner, now, until).await?
        else {
            return Ok(Next::Stop);
        };
        let events = self.events.audit_after(position, BATCH).await?;
        let more = events.len() as i64 == BATCH;
        if let Some(last) = events.last().map(|e| e.event.seq) {
            let queued: Vec<DeliveryRecord> = events
                .iter()
                .filter_map(|e| {
                    let m = emitted(e)?;
                    let wanted = m.reaches(w.namespace.as_str())
                        && w.event_types.iter().any(|t| t == m.kind.as_str());
                    wanted.then(|| {
                        let at = DateTime::parse_from_rfc3339(&e.event.at)
                            .map(|t| t.with_timezone(&Utc))
                            .unwrap_or(now);
                        let event = CloudEvent::new(
                            e.event.seq.to_string(),
                            self.hooks.source.clone(),
                            m.kind,
                            m.subject,
                            at,
                            m.data,
                        );
                        DeliveryRecord {
                            id: Uuid::now_v7(),
                            webhook_id: w.id,
                            seq: Some(e.event.seq),
                            event_type: m.kind.as_str().to_owned(),
                            body: event.body(),
                            state: DeliveryState::Pending,
                            attempts: 0,
                            retry_since: now,
                            next_attempt_at: now,
                            created_at: now,
                        }
                    })
                })
                .collect();
            if !self.subs.enqueue(w.id, &self.owner, last, &queued).await? {
                return Ok(Next::Stop);
            }
        }
        let Some(d) = self.subs.next_delivery(w.id).await? else {
            return Ok(Next::After(if more { Duration::ZERO } else { IDLE }));
        };
        if d.next_attempt_at > now {
            let wait = (d.next_attempt_at - now).to_std().unwrap_or_default();
            return Ok(Next::After(wait.min(IDLE)));
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
        Ok(Next::After(Duration::ZERO))
    }

    /// The wait after the `n`th failed attempt.
    fn backoff(&self, n: i32) -> chrono::Duration {
        let cap = MAX_BACKOFF.min(self.retry_for / 8);
        let exp = FIRST_BACKOFF.saturating_mul(1u32 << (n - 1).clamp(0, 20));
        chrono::Duration::from_std(exp.min(cap)).unwrap_or_default()
    }
}

/// A subscription's deliverer here: turns until it is another replica's, is
/// disabled or gone, or the service stops (then its lease is given up).
async fn deliver(weak: Weak<Dispatcher>, id: Uuid) {
    let mut failures = 0u32;
    loop {
        let Some(d) = weak.upgrade() else { return };
        let wait = match d.turn(id).await {
            Ok(Next::After(wait)) => {
                failures = 0;
                wait
            }
            Ok(Next::Stop) => return,
            Err(e) => {
                failures += 1;
                tracing::warn!(webhook = %id, error = %e, "webhooks: a turn failed; trying again");
                IDLE.saturating_mul(1 << failures.min(6))
            }
        };
        let (subs, owner) = (d.subs.clone(), d.owner.clone());
        drop(d);
        tokio::time::sleep(wait).await;
        if weak.strong_count() == 0 {
            let _ = subs.release_webhook(id, &owner).await;
            return;
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

//! The access log's storage: events, the chain's head and anchor, and the
//! pending event that every write commits with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::chain::{AuditEvent, ChainedEvent, timestamp};
use crate::error::Result;
use crate::kinds::Outcome;
use crate::names::{ModelRef, Namespace, PrincipalName, Text};

/// The chain's tip and anchor.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
    pub anchor_seq: i64,
    pub anchor_hash: String,
}

/// Audit query filters; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub principal: Option<PrincipalName>,
    /// `METHOD /route/{template}`.
    pub action: Option<Text<1024>>,
    pub namespace: Option<Namespace>,
    pub model: Option<ModelRef>,
    pub outcome: Option<Outcome>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub request_id: Option<Text<1024>>,
}

/// The audit event of the request a write belongs to. Every write takes one, and
/// commits it in the same transaction as the change: the change and its record
/// commit together or not at all (into the inbox, whence it joins the chain). Once committed it is marked, so the request's
/// answer does not log it again, and a second write of the same request appends
/// nothing more.
pub struct Pending {
    event: Option<AuditEvent>,
    committed: Arc<AtomicBool>,
}

impl Pending {
    /// `event` (its `at` is set when it commits, its `seq` when it is chained); `committed` is
    /// shared with whoever must know that it did.
    pub fn new(event: AuditEvent, committed: Arc<AtomicBool>) -> Self {
        Self {
            event: Some(event),
            committed,
        }
    }

    /// For writes that no request makes (bootstrap, retention): nothing is
    /// appended with them.
    pub fn system() -> Self {
        Self {
            event: None,
            committed: Arc::default(),
        }
    }

    /// The same event with `key` added to its detail: what the change's own
    /// transaction learned (the version an alias pointed at before, a
    /// version's root digest), for whoever reads the log (webhooks).
    pub(crate) fn with_detail(&self, key: &str, value: serde_json::Value) -> Self {
        let event = self.event.clone().map(|mut e| {
            let mut detail: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&e.detail).unwrap_or_default();
            detail.insert(key.to_owned(), value);
            e.detail = serde_json::Value::Object(detail).to_string();
            e
        });
        Self {
            event,
            committed: self.committed.clone(),
        }
    }

    /// The event to append with a commit at `at`, unless one already was.
    pub(crate) fn take(&self, at: DateTime<Utc>) -> Option<AuditEvent> {
        if self.committed.load(Ordering::Acquire) {
            return None;
        }
        self.event.clone().map(|mut e| {
            e.at = timestamp(at);
            e
        })
    }

    pub(crate) fn mark_committed(&self) {
        if self.event.is_some() {
            self.committed.store(true, Ordering::Release);
        }
    }
}

/// The access log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends events of requests that changed nothing, in one transaction,
    /// after the events of committed writes waiting in the inbox.
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()>;
    /// Appends events of requests that changed nothing, in one transaction,
    /// leaving the inbox to the next [`AuditLog::append_audit`] (one statement
    /// less, for batches no write asked for).
    async fn append_only(&self, events: Vec<AuditEvent>) -> Result<()>;
    /// Moves the events of committed writes waiting in the inbox into the chain.
    /// Readers of the log call it first, so they see every answered request.
    async fn chain_waiting(&self) -> Result<()> {
        self.append_audit(Vec::new()).await
    }
    async fn audit_head(&self) -> Result<AuditHead>;
    /// Events in chain order after `after`.
    async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<ChainedEvent>>;
    /// Drops events up to `through` and makes (`through`, `hash`) the anchor,
    /// unless the anchor moved since `old_anchor` was read (`Conflict`).
    async fn prune_audit(&self, old_anchor: i64, through: i64, hash: &str) -> Result<()>;
    /// Events matching a filter: newest first with `seq` below `from`, or
    /// with `Order::OldestFirst` in chain order with `seq` above it.
    async fn query_audit(
        &self,
        f: &AuditFilter,
        from: i64,
        order: Order,
        limit: i64,
    ) -> Result<Vec<ChainedEvent>>;
    /// How many batches of the group commit are worth having in flight at once.
    fn appends_in_flight(&self) -> usize;
}

/// The order a query reads the log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    /// Chain order.
    OldestFirst,
}

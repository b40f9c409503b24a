//! The access log: one event per `/v1` request, in a hash chain an auditor can
//! verify, and the auditors' reads of it (query, export, verify, archive).
//!
//! Dependency rule: the HTTP layer opens a [`Trail`] for each request and notes
//! what it learns (route, path, principal). A change commits its event with it:
//! the principal carries the trail, permits carry the principal, and every store
//! write takes the permit's [`Pending`](crate::store::Pending) event, so the
//! change and its record commit in one transaction. What did not commit an event
//! (reads, refusals, errors) goes through the [`Appender`] before the answer
//! leaves. This module reads the chain through the `AuditLog` capability only.

pub use crate::api::{Head, VerifyReport};

mod log;
pub mod ocsf;
mod stream;
mod turns;
mod watch;

pub use log::{Inclusion, Signing, TransparencyLog};
use std::sync::Arc;
pub use stream::{AuditStream, Destination};
pub use watch::{ALERT_ACTION, ExtractionWatch, Rules as ExtractionRules};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Serialize;

use crate::auth::{GlobalPermit, ReadAudit};
use crate::error::{Error, Result};
use crate::kinds::Outcome;
use crate::names::{ModelRef, Namespace, PrincipalName, Text};
use crate::page::{Page, Paged};
use crate::store::{AuditEvent, AuditFilter, AuditLog, Order};

/// The records the log answers with.
pub use crate::chain::{ChainedEvent, GENESIS, Verifier};
pub use crate::trail::{Context, Trail};

/// What an auditor asks the log for; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub principal: Option<PrincipalName>,
    /// `METHOD /route/{template}`.
    pub action: Option<Text<1024>>,
    pub model: Option<ModelRef>,
    pub outcome: Option<Outcome>,
    /// Events at or after.
    pub since: Option<DateTime<Utc>>,
    /// Events before.
    pub until: Option<DateTime<Utc>>,
    pub request_id: Option<Text<1024>>,
}

/// Which part of the log a reader may see: all of it, or one namespace's.
pub enum Scope {
    All(GlobalPermit<ReadAudit>),
    Namespace(crate::auth::Permit<ReadAudit>),
}

impl Scope {
    /// The scope a principal reads: the named namespace (named directly, or
    /// else as the namespace of the model asked for), or everything for those
    /// who audit globally. Namespace auditors must name their namespace.
    pub fn of(
        p: &crate::auth::Principal,
        namespace: Option<&Namespace>,
        model: Option<&ModelRef>,
    ) -> Result<Self> {
        use crate::auth::{Global, authorize, authorize_global};
        // Filters hold together: a model of another namespace than the one
        // named matches nothing (read in the namespace named).
        let namespace = namespace.or(model.map(|m| &m.namespace));
        match namespace {
            Some(ns) => Ok(Self::Namespace(authorize(p, ns)?)),
            None => match authorize_global(p, Global::All) {
                Ok(all) => Ok(Self::All(all)),
                Err(Error::Denied(d)) if !d.hidden && p.may_anywhere::<ReadAudit>() => Err(
                    Error::invalid("namespace is required unless you audit all namespaces"),
                ),
                Err(e) => Err(e),
            },
        }
    }

    fn filter(&self, q: &Query) -> AuditFilter {
        AuditFilter {
            principal: q.principal.clone(),
            action: q.action.clone(),
            namespace: match self {
                Scope::All(_) => None,
                Scope::Namespace(p) => Some(p.namespace().clone()),
            },
            model: q.model.clone(),
            outcome: q.outcome,
            since: q.since,
            until: q.until,
            request_id: q.request_id.clone(),
        }
    }
}

/// The auditors' view of the log.
pub struct Auditing {
    log: Arc<dyn AuditLog>,
}

impl Auditing {
    /// Events per page of an export.
    const EXPORT_BATCH: i64 = 1000;

    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    /// Events matching `q` in `scope`, newest first.
    pub async fn search(
        &self,
        scope: &Scope,
        q: &Query,
        page: &Page,
    ) -> Result<Paged<ChainedEvent>> {
        let before = page.after::<i64>()?.unwrap_or(i64::MAX);
        self.log.chain_waiting().await?;
        let items = self
            .log
            .query_audit(&scope.filter(q), before, Order::NewestFirst, page.limit())
            .await?;
        Ok(Paged::new(items, page, |e| e.event.seq.to_string()))
    }

    /// The same events as JSON Lines, in chain order (oldest first), read page
    /// by page (never all in memory).
    pub fn export(
        &self,
        scope: &Scope,
        q: &Query,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let (log, filter) = (self.log.clone(), scope.filter(q));
        futures::stream::unfold(Some(0), move |after| {
            let (log, filter) = (log.clone(), filter.clone());
            async move {
                let after = after?;
                if let Err(e) = log.chain_waiting().await {
                    return Some((Err(e), None));
                }
                let batch = log.query_audit(&filter, after, Order::OldestFirst, Self::EXPORT_BATCH);
                match batch.await {
                    Ok(batch) if batch.is_empty() => None,
                    Ok(batch) => {
                        let next = (batch.len() as i64 == Self::EXPORT_BATCH)
                            .then(|| batch[batch.len() - 1].event.seq);
                        let mut text = String::new();
                        for e in &batch {
                            text.push_str(&e.line());
                            text.push('\n');
                        }
                        Some((Ok(Bytes::from(text)), next))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
    }

    /// The chain's head now: its last event and that event's hash.
    pub async fn head(&self, _: &GlobalPermit<ReadAudit>) -> Result<Head> {
        self.log.chain_waiting().await?;
        let head = self.log.audit_head().await?;
        Ok(Head {
            seq: head.seq,
            hash: head.hash,
        })
    }

    /// Recomputes the whole chain from its anchor, for a reader of `scope`:
    /// one namespace's reader learns whether it holds, its head and how many of
    /// its events are that namespace's, nothing else.
    pub async fn verify(&self, scope: &Scope) -> Result<VerifyReport> {
        let namespace = match scope {
            Scope::All(_) => None,
            Scope::Namespace(p) => Some(p.namespace().to_string()),
        };
        let (mut r, of_namespace) = self.verify_all(namespace.as_deref()).await?;
        if namespace.is_some() {
            r.first_bad_seq = None;
            r.checked = of_namespace;
        }
        r.namespace = namespace;
        Ok(r)
    }

    /// Recomputes the whole chain from its anchor, counting the events of
    /// `namespace` on the way.
    async fn verify_all(&self, namespace: Option<&str>) -> Result<(VerifyReport, i64)> {
        let mut of_namespace = 0;
        self.log.chain_waiting().await?;
        let head = self.log.audit_head().await?;
        let mut v = Verifier::new(head.anchor_seq, &head.anchor_hash);
        let mut first_bad = None;
        let mut after = head.anchor_seq;
        'scan: loop {
            let batch = self.log.audit_after(after, Self::EXPORT_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.event.seq;
            for e in &batch {
                if let Err(seq) = v.feed(e) {
                    first_bad = Some(seq);
                    break 'scan;
                }
                if namespace.is_some() && e.event.namespace.as_deref() == namespace {
                    of_namespace += 1;
                }
            }
        }
        // Events missing at the end, or a tip rewritten, show against the head row.
        if first_bad.is_none() && (v.expect_seq - 1 != head.seq || v.prev_hash != head.hash) {
            first_bad = Some(v.expect_seq);
        }
        let report = VerifyReport {
            ok: first_bad.is_none(),
            checked: v.checked,
            head: Head {
                seq: head.seq,
                hash: head.hash,
            },
            first_bad_seq: first_bad,
            namespace: None,
        };
        Ok((report, of_namespace))
    }
}

/// Keeps a flood of requests refused for going too fast from growing the log
/// without bound: per caller (principal, or client address without a valid
/// token), the first refusal of each window is written and the rest are counted;
/// the next written one carries how many went unwritten before it.
pub struct RefusalWindow {
    window: std::time::Duration,
    seen: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u64)>>,
}

impl RefusalWindow {
    /// Callers remembered before old windows are dropped.
    const KEEP: usize = 10_000;

    pub fn new(window: std::time::Duration) -> Self {
        Self {
            window,
            seen: Default::default(),
        }
    }

    /// `Some(n)`: write this refusal's event, noting `n` refusals of this caller
    /// not written since the last one. `None`: counted, not written.
    pub fn admit(&self, caller: &str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > Self::KEEP {
            seen.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        match seen.get_mut(caller) {
            Some((start, unwritten)) if now.duration_since(*start) < self.window => {
                *unwritten += 1;
                None
            }
            Some((start, unwritten)) => {
                let n = *unwritten;
                *start = now;
                *unwritten = 0;
                Some(n)
            }
            None => {
                seen.insert(caller.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

/// Group commit for the events of requests that changed nothing: one task takes
/// every event waiting and appends them in one transaction, so concurrent requests
/// share one commit instead of queueing for a commit each; on PostgreSQL, while
/// one batch commits the next is already waiting for the chain's head
/// ([`AuditLog::appends_in_flight`]). Each request still waits until its own
/// event is durable, and fails (503) if its batch fails, or if it was queued
/// while a batch found the database unreachable (it waited through that
/// attempt); an event queued after that gets an attempt of its own. Every batch
/// first chains the events of committed writes waiting in the store's inbox; a
/// write that committed one asks for a batch with [`Appender::kick`].
pub struct Appender {
    tx: tokio::sync::mpsc::Sender<Option<Waiting>>,
    /// A write committed an event to the inbox since the last batch took it.
    kicked: Arc<std::sync::atomic::AtomicBool>,
}

/// An event to append, whoever waits for it to be durable, and when it was queued.
type Waiting = (
    AuditEvent,
    tokio::sync::oneshot::Sender<bool>,
    std::time::Instant,
);

impl Appender {
    /// Largest batch; more waiting events go in the next one.
    const BATCH: usize = 256;

    /// Longest a batch leaves the inbox alone: a write whose process died
    /// between its commit and its kick waits no longer than this while reads
    /// go on (and readers of the log chain the inbox first in any case).
    const INBOX_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn start(log: Arc<dyn AuditLog>) -> Self {
        use std::sync::atomic::Ordering;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Waiting>>(4096);
        // Events a previous run left in the inbox are chained at once.
        let kicked = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let _ = tx.try_send(None);
        let inbox_kicked = kicked.clone();
        tokio::spawn(async move {
            // With two in flight (PostgreSQL), the next batch takes the chain's
            // head lock as soon as the one before commits, instead of starting
            // only then.
            let slots = Arc::new(tokio::sync::Semaphore::new(log.appends_in_flight().max(1)));
            // When a batch last found the database gone, until one succeeds.
            let down = Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
            let mut inbox_taken = std::time::Instant::now();
            while let Some(first) = rx.recv().await {
                // A batch starts when one in flight leaves a slot, and takes
                // every event that arrived meanwhile.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let mut batch: Vec<Waiting> = first.into_iter().collect();
                while batch.len() < Self::BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.extend(next),
                        Err(_) => break,
                    }
                }
                // The database was gone for a batch: the events queued before
                // that was known waited through its attempt, and fail with it
                // rather than each waiting through another; the ones queued
                // since try again.
                if let Some(failed) = *down.lock().expect("not poisoned") {
                    let (waited, fresh): (Vec<_>, Vec<_>) = batch
                        .into_iter()
                        .partition(|(_, _, queued)| *queued < failed);
                    for (_, w, _) in waited {
                        let _ = w.send(false);
                    }
                    batch = fresh;
                    if batch.is_empty() && !inbox_kicked.load(Ordering::Acquire) {
                        continue;
                    }
                }
                let (events, waiters): (Vec<_>, Vec<_>) =
                    batch.into_iter().map(|(e, w, _)| (e, w)).unzip();
                // Batches of reads alone leave the inbox be: one statement less.
                let take_inbox = inbox_kicked.swap(false, Ordering::AcqRel)
                    || inbox_taken.elapsed() >= Self::INBOX_AT_LEAST_EVERY;
                if take_inbox {
                    inbox_taken = std::time::Instant::now();
                }
                let (log, down) = (log.clone(), down.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let ok = append_batch(&*log, events, take_inbox, &down).await;
                    for w in waiters {
                        let _ = w.send(ok);
                    }
                });
            }
        });
        Self { tx, kicked }
    }

    /// Asks for a batch soon, to chain what committed writes left in the inbox;
    /// does not wait (a full queue means a batch is coming anyway, and it takes
    /// the inbox).
    pub fn kick(&self) {
        self.kicked
            .store(true, std::sync::atomic::Ordering::Release);
        let _ = self.tx.try_send(None);
    }

    /// Appends one event; returns once it is committed.
    pub async fn append(&self, e: AuditEvent) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let unavailable = || Error::Unavailable(anyhow::anyhow!("audit log"));
        self.tx
            .send(Some((e, done, std::time::Instant::now())))
            .await
            .map_err(|_| unavailable())?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(unavailable()),
        }
    }
}

/// What an archive run did.
#[derive(Debug, Clone, Serialize)]
pub struct Archived {
    pub archived: i64,
    /// The new chain anchor: the last archived event.
    pub anchor_seq: i64,
    pub anchor_hash: String,
}

/// Retention: writes the events after the current anchor up to and including
/// `through` to `out` as JSON Lines (with their hashes, so the archive can be
/// checked on its own), then drops them and makes the last one the chain's new
/// anchor. The chain is verified while it is written; a broken chain is not
/// archived, so no evidence of tampering is thrown away. Only events the
/// transparency log's tree already holds are archived: the tree keeps their
/// hashes, so they stay provable.
pub async fn archive(
    store: &dyn AuditLog,
    tree: &dyn crate::store::AuditTree,
    through: i64,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> Result<Archived> {
    use tokio::io::AsyncWriteExt;
    store.chain_waiting().await?;
    let head = store.audit_head().await?;
    if through <= head.anchor_seq || through > head.seq {
        return Err(Error::invalid(format!(
            "through must be after the anchor ({}) and at most the head ({})",
            head.anchor_seq, head.seq
        )));
    }
    let in_tree = tree.checkpoint(None).await?.map_or(0, |c| c.size);
    if u64::try_from(through).map_err(Error::internal)? > in_tree {
        return Err(Error::invalid(format!(
            "the transparency log's tree holds the first {in_tree} events; archive through at \
             most {in_tree} (the service grows the tree twice a second while it runs with \
             its log key)"
        )));
    }
    let mut v = Verifier::new(head.anchor_seq, &head.anchor_hash);
    let mut after = head.anchor_seq;
    while after < through {
        let batch = store.audit_after(after, 1000.min(through - after)).await?;
        let Some(last) = batch.last() else { break };
        after = last.event.seq;
        for e in &batch {
            v.feed(e).map_err(|seq| {
                Error::invalid(format!("the chain is broken at {seq}; not archiving"))
            })?;
            let mut line = serde_json::to_vec(e).map_err(Error::internal)?;
            line.push(b'\n');
            out.write_all(&line).await.map_err(Error::internal)?;
        }
    }
    out.flush().await.map_err(Error::internal)?;
    if v.expect_seq - 1 != through {
        return Err(Error::invalid("events are missing before `through`"));
    }
    store
        .prune_audit(head.anchor_seq, through, &v.prev_hash)
        .await?;
    Ok(Archived {
        archived: v.checked,
        anchor_seq: through,
        anchor_hash: v.prev_hash,
    })
}

/// Appends one batch (and the inbox, when `take_inbox`); notes when the
/// database was found gone, and when it answers again. Answers whether the
/// batch committed.
async fn append_batch(
    log: &dyn AuditLog,
    events: Vec<AuditEvent>,
    take_inbox: bool,
    down: &std::sync::Mutex<Option<std::time::Instant>>,
) -> bool {
    let (count, began) = (events.len(), std::time::Instant::now());
    let appended = if take_inbox {
        log.append_audit(events).await
    } else {
        log.append_only(events).await
    };
    if count > 0 {
        crate::metrics::audit_append(count, began.elapsed());
    }
    match appended {
        Ok(()) => {
            *down.lock().expect("not poisoned") = None;
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "audit append failed");
            if matches!(e, Error::Unavailable(_)) {
                *down.lock().expect("not poisoned") = Some(std::time::Instant::now());
            }
            false
        }
    }
}

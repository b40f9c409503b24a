//! The access log: one event per `/v1` request, in a hash chain an auditor can
//! verify.
//!
//! Dependency rule: the HTTP middleware opens a [`Context`] for each request; the
//! principal extractor and `auth::authorize` fill it in; the store takes its
//! pending event when a write transaction commits, so a change and its event
//! commit together. The store is the one lower layer that reads this context:
//! that is what makes invariant 7 ("mutations write their event in the same
//! transaction") hold without every domain call passing the event along.

use std::cell::RefCell;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::Digest;

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event, as hashed and stored. Field order is the canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Event {
    pub seq: i64,
    /// RFC 3339, UTC, microseconds: stored as hashed, so it round-trips exactly.
    pub at: String,
    pub request_id: String,
    pub principal: Option<String>,
    pub token_id: Option<String>,
    /// `METHOD /route/{template}`.
    pub action: String,
    pub namespace: Option<String>,
    /// `namespace/model` when the request is about one.
    pub model: Option<String>,
    /// The request path (never the query string).
    pub resource: String,
    /// `allowed`, `denied` or `error`.
    pub outcome: String,
    pub status: i32,
    pub client_addr: Option<String>,
    /// JSON object text: what identifies the action beyond the path.
    pub detail: String,
}

/// An event with its place in the chain.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ChainedEvent {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub event: Event,
    pub prev_hash: String,
    pub hash: String,
}

/// `SHA-256(prev_hash || canonical bytes)`, hex. The canonical bytes are the
/// event's JSON in field order, without the hashes.
pub fn chain_hash(prev_hash: &str, e: &Event) -> String {
    let mut h = sha2::Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(serde_json::to_vec(e).expect("an event serializes"));
    hex::encode(h.finalize())
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// What the request has told the log so far.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub request_id: String,
    pub action: String,
    pub resource: String,
    pub client_addr: Option<String>,
    pub principal: Option<String>,
    pub token_id: Option<String>,
    pub namespace: Option<String>,
    pub model: Option<String>,
    /// The status a committed change answers with (the route's success status).
    pub success_status: u16,
    /// Authorization refused something (403, or a 404 that hides a namespace).
    pub denied: bool,
    /// The event is in the log already (committed with a change).
    pub written: bool,
    /// What identifies the action beyond the path (bytes sent, range).
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Context {
    /// The event for a request that answered `status`.
    pub fn event(&self, status: u16, at: DateTime<Utc>) -> Event {
        let outcome = if (200..400).contains(&status) {
            "allowed"
        } else if self.denied || matches!(status, 401 | 403 | 429) {
            "denied"
        } else {
            "error"
        };
        Event {
            seq: 0,
            at: timestamp(at),
            request_id: self.request_id.clone(),
            principal: self.principal.clone(),
            token_id: self.token_id.clone(),
            action: self.action.clone(),
            namespace: self.namespace.clone(),
            model: self.model.clone(),
            resource: self.resource.clone(),
            outcome: outcome.to_owned(),
            status: i32::from(status),
            client_addr: self.client_addr.clone(),
            detail: serde_json::Value::Object(self.detail.clone()).to_string(),
        }
    }
}

tokio::task_local! {
    static CONTEXT: RefCell<Context>;
}

/// Runs `fut` with `ctx` as the request's audit context.
pub async fn scope<F: std::future::Future>(ctx: Context, fut: F) -> (F::Output, Context) {
    CONTEXT
        .scope(RefCell::new(ctx), async move {
            let out = fut.await;
            (out, CONTEXT.with(|c| c.borrow().clone()))
        })
        .await
}

/// Adds to the current request's context (no-op outside a request).
pub fn note(f: impl FnOnce(&mut Context)) {
    let _ = CONTEXT.try_with(|c| f(&mut c.borrow_mut()));
}

/// The event a committing change should carry, once: marks it written.
pub fn take_pending(at: DateTime<Utc>) -> Option<Event> {
    CONTEXT
        .try_with(|c| {
            let mut c = c.borrow_mut();
            if c.written || c.action.is_empty() {
                return None;
            }
            c.written = true;
            Some(c.event(c.success_status, at))
        })
        .ok()
        .flatten()
}

/// Gives a pending event back when its transaction did not commit.
pub fn untake() {
    note(|c| c.written = false);
}

/// Group commit for the events of requests that changed nothing: one task takes
/// every event waiting and appends them in one transaction, so concurrent requests
/// share one commit instead of queueing for a commit each. Each request still waits
/// until its own event is durable, and fails (503) if the batch fails.
pub struct Appender {
    tx: tokio::sync::mpsc::Sender<(Event, tokio::sync::oneshot::Sender<bool>)>,
}

impl Appender {
    /// Largest batch; more waiting events go in the next one.
    const BATCH: usize = 256;

    pub fn start(store: std::sync::Arc<dyn crate::store::Store>) -> Self {
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(Event, tokio::sync::oneshot::Sender<bool>)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < Self::BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let ok = match store.append_audit(events).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(error = %e, "audit append failed");
                        false
                    }
                };
                for w in waiters {
                    let _ = w.send(ok);
                }
            }
        });
        Self { tx }
    }

    /// Appends one event; returns once it is committed.
    pub async fn append(&self, e: Event) -> crate::error::Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let unavailable = || crate::error::Error::Unavailable(anyhow::anyhow!("audit log"));
        self.tx.send((e, done)).await.map_err(|_| unavailable())?;
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
/// archived, so no evidence of tampering is thrown away.
pub async fn archive(
    store: &dyn crate::store::Store,
    through: i64,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> crate::error::Result<Archived> {
    use tokio::io::AsyncWriteExt;
    let head = store.audit_head().await?;
    if through <= head.anchor_seq || through > head.seq {
        return Err(crate::error::Error::invalid(format!(
            "through must be after the anchor ({}) and at most the head ({})",
            head.anchor_seq, head.seq
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
                crate::error::Error::invalid(format!("the chain is broken at {seq}; not archiving"))
            })?;
            let mut line = serde_json::to_vec(e).map_err(crate::error::Error::internal)?;
            line.push(b'\n');
            out.write_all(&line)
                .await
                .map_err(crate::error::Error::internal)?;
        }
    }
    out.flush().await.map_err(crate::error::Error::internal)?;
    if v.expect_seq - 1 != through {
        return Err(crate::error::Error::invalid(
            "events are missing before `through`",
        ));
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

/// What `GET /v1/audit/verify` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: i64,
    pub head: Head,
    pub first_bad_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Checks a run of events against the chain: contiguous sequence numbers after
/// the anchor, each `prev_hash` the previous hash, each hash recomputed. Returns
/// the first bad sequence number, if any.
pub struct Verifier {
    pub expect_seq: i64,
    pub prev_hash: String,
    pub checked: i64,
}

impl Verifier {
    pub fn new(anchor_seq: i64, anchor_hash: &str) -> Self {
        Self {
            expect_seq: anchor_seq + 1,
            prev_hash: anchor_hash.to_owned(),
            checked: 0,
        }
    }

    /// Feeds the next stored event; `Err(seq)` at the first break.
    pub fn feed(&mut self, e: &ChainedEvent) -> Result<(), i64> {
        let bad = e.event.seq != self.expect_seq
            || e.prev_hash != self.prev_hash
            || chain_hash(&e.prev_hash, &e.event) != e.hash;
        if bad {
            return Err(self.expect_seq.min(e.event.seq));
        }
        self.checked += 1;
        self.expect_seq += 1;
        self.prev_hash = e.hash.clone();
        Ok(())
    }
}

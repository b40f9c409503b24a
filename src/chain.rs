//! The access log's hash chain: an event as it is hashed and stored, the
//! chain's rule, and the verifier that recomputes it. A leaf: the store keeps
//! events in this shape, and the audit service and the client verify with this
//! same code.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::kinds::Outcome;

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event, as hashed and stored. Field order is the canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEvent {
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
    pub outcome: Outcome,
    pub status: i32,
    pub client_addr: Option<String>,
    /// JSON object text: what identifies the action beyond the path.
    pub detail: String,
}

impl AuditEvent {
    /// `SHA-256(prev_hash || canonical bytes)`, hex. The canonical bytes are the
    /// event's JSON in field order, without the hashes.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        let mut h = sha2::Sha256::new();
        h.update(prev_hash.as_bytes());
        h.update(serde_json::to_vec(self).expect("an event serializes"));
        hex::encode(h.finalize())
    }
}

/// An event with its place in the chain.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct ChainedEvent {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

impl ChainedEvent {
    /// The event's line of `audit export` (without the newline): what the
    /// transparency log's leaf for it hashes.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("an event serializes")
    }
}

/// How event times are written: RFC 3339, UTC, microseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
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
            || e.event.chain_hash(&e.prev_hash) != e.hash;
        if bad {
            return Err(self.expect_seq.min(e.event.seq));
        }
        self.checked += 1;
        self.expect_seq += 1;
        self.prev_hash = e.hash.clone();
        Ok(())
    }
}

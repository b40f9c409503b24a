//! The access log's Merkle tree (its complete subtrees) and the checkpoints
//! signed as it grows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::tlog::{Hash, Node};

/// A signed checkpoint of the tree at one size.
#[derive(Debug, Clone)]
pub struct CheckpointRecord {
    pub size: u64,
    pub root: Hash,
    /// The signed note, as served.
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// Signs the tree at a size with its root: the signed note.
pub type SignFn<'a> = dyn Fn(u64, &Hash) -> String + Send + Sync + 'a;

#[async_trait]
pub trait AuditTree: Send + Sync {
    /// Grows the tree by up to `limit` events of the chain, in order, and
    /// keeps the checkpoint `sign` makes of its new size: one transaction,
    /// under the tree head's lock (replicas take turns; the later finds the
    /// work done). Answers the sizes before and after. Fails when the chain
    /// no longer holds the events the tree needs next.
    async fn grow_tree(&self, limit: i64, sign: &SignFn<'_>) -> Result<(u64, u64)>;
    /// The hashes of these subtrees, of those the tree holds.
    async fn tree_hashes(&self, nodes: &[Node]) -> Result<Vec<(Node, Hash)>>;
    /// The hashes of the subtrees of one level from `first`, in order: up to
    /// `count` of them, those the tree holds (a tile's).
    async fn level_hashes(&self, level: u8, first: u64, count: u64) -> Result<Vec<Hash>>;
    /// The checkpoint of this size, or the latest.
    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<CheckpointRecord>>;
}

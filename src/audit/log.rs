//! The transparency log: the access log as a Merkle tree whose checkpoints
//! the log key signs, so an auditor holding the verifier key checks what it
//! was shown without trusting the database. Every replica grows the tree
//! from the chain twice a second (they take turns under the tree head's
//! lock) and signs a checkpoint of each new size.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use super::Scope;
use crate::auth::{GlobalPermit, ReadAudit};
use crate::error::{Error, Result};
use crate::store::{AuditLog, AuditTree, CheckpointRecord};
use crate::tlog::note::{Checkpoint, LogKey};
use crate::tlog::tile::Tile;
use crate::tlog::{self, Hash};

/// Events the tree takes in one transaction.
const GROWTH: i64 = 10_000;

/// An event's inclusion proof: leaf `leaf_index` of the tree of `tree_size`
/// events, the proof's hashes, that tree's signed checkpoint and the leaf.
pub struct Inclusion {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
    pub checkpoint: String,
    pub entry: String,
}

/// Why the log cannot sign, when it cannot.
pub enum Signing {
    Key(Box<LogKey>),
    /// Said at start-up and in every refused answer.
    Off(String),
}

pub struct TransparencyLog {
    tree: Arc<dyn AuditTree>,
    /// The events the leaves are (entry bundles, proofs).
    events: Arc<dyn AuditLog>,
    signing: Arc<Signing>,
}

impl TransparencyLog {
    pub fn new(tree: Arc<dyn AuditTree>, events: Arc<dyn AuditLog>, signing: Signing) -> Self {
        Self {
            tree,
            events,
            signing: Arc::new(signing),
        }
    }

    fn key(&self) -> Result<&LogKey> {
        match &*self.signing {
            Signing::Key(k) => Ok(k.as_ref()),
            Signing::Off(why) => Err(Error::LogUnavailable(why.clone())),
        }
    }

    /// Grows the tree to the chain's end and signs its new size; answers the
    /// size.
    pub async fn publish(&self) -> Result<u64> {
        let key = self.key()?;
        let sign = |size: u64, root: &tlog::Hash| {
            key.sign(&Checkpoint {
                origin: key.name().to_owned(),
                size,
                root: *root,
            })
        };
        loop {
            let (before, after) = self.tree.grow_tree(GROWTH, &sign).await?;
            // A full batch may have left more behind; anything less caught up.
            if after - before < GROWTH as u64 {
                return Ok(after);
            }
        }
    }

    /// Publishes every `period` until the process ends; a failure is logged
    /// and tried again at the next turn. Nothing when the log cannot sign.
    pub fn spawn(self: &Arc<Self>, period: Duration) {
        if let Signing::Off(why) = &*self.signing {
            tracing::warn!(why = %why, "the transparency log is off");
            return;
        }
        let log = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = log.publish().await {
                    tracing::warn!(error = %e, "transparency log: the tree did not grow");
                }
            }
        });
    }

    /// The latest signed checkpoint, as a signed note.
    pub async fn checkpoint(&self, _: &GlobalPermit<ReadAudit>) -> Result<String> {
        let key = self.key()?;
        match self.tree.checkpoint(None).await? {
            Some(c) => Ok(c.note),
            None => Ok(key.sign(&Checkpoint {
                origin: key.name().to_owned(),
                size: 0,
                root: tlog::empty_root(),
            })),
        }
    }

    /// The consistency proof from the tree of `from` events to that of `to`
    /// (at most the latest checkpoint's size): its hashes, in order.
    pub async fn consistency(
        &self,
        _: &GlobalPermit<ReadAudit>,
        from: u64,
        to: u64,
    ) -> Result<Vec<tlog::Hash>> {
        self.key()?;
        let latest = self.tree.checkpoint(None).await?.map_or(0, |c| c.size);
        if to > latest || from > to {
            return Err(Error::Missing(format!(
                "consistency proof from {from} to {to} events (the log has a checkpoint of \
                 {latest}; from ≤ to ≤ {latest})"
            )));
        }
        self.hashes(&tlog::consistency_ranges(from, to)).await
    }

    /// The hashes of these ranges of leaves, from the stored subtrees.
    async fn hashes(&self, ranges: &[tlog::Range]) -> Result<Vec<Hash>> {
        let known: HashMap<_, _> = self
            .tree
            .tree_hashes(&tlog::needs(ranges))
            .await?
            .into_iter()
            .collect();
        tlog::hashes_of(ranges, |n| known.get(&n).copied())
            .ok_or_else(|| Error::internal(anyhow::anyhow!("the log's tree lacks a subtree")))
    }

    /// The size of the newest checkpoint (0 before the first).
    async fn published(&self) -> Result<u64> {
        Ok(self.tree.checkpoint(None).await?.map_or(0, |c| c.size))
    }

    /// A tile the newest checkpoint's tree holds, or why not.
    async fn within(&self, tile: &Tile) -> Result<()> {
        let size = self.published().await?;
        match tile.within(size) {
            true => Ok(()),
            false => Err(Error::Missing(format!(
                "tile {}: the log's newest checkpoint is of {size} events, and holds no such tile",
                tile.path()
            ))),
        }
    }

    /// A hash tile (C2SP `tlog-tiles`): the hashes of `width` subtrees of
    /// `256^level` events each, concatenated.
    pub async fn hash_tile(&self, _: &GlobalPermit<ReadAudit>, tile: &Tile) -> Result<Vec<u8>> {
        self.key()?;
        self.within(tile).await?;
        let first = tile.first();
        let hashes = self
            .tree
            .level_hashes(first.level, first.index, tile.width)
            .await?;
        if hashes.len() as u64 != tile.width {
            return Err(Error::internal(anyhow::anyhow!(
                "the log's tree lacks hashes of tile {}",
                tile.path()
            )));
        }
        Ok(hashes.concat())
    }

    /// An entry bundle (C2SP `tlog-tiles`): the events of a level-0 tile as
    /// their `audit export` lines, each after its length (big-endian u16).
    /// Global auditors only: entries are the log's content.
    pub async fn entry_bundle(&self, scope: &Scope, tile: &Tile) -> Result<Vec<u8>> {
        if !matches!(scope, Scope::All(_)) {
            return Err(Error::forbidden());
        }
        self.key()?;
        self.within(tile).await?;
        let leaves = tile.leaves();
        let first = i64::try_from(leaves.start).map_err(Error::internal)?;
        let width = i64::try_from(tile.width).map_err(Error::internal)?;
        let events = self.events.audit_after(first, width).await?;
        let archived = || {
            Error::Missing(format!(
                "entries of tile {}: events {} to {} were archived (audit-archive keeps them in \
                 its file; the hash tiles still prove them)",
                tile.path(),
                leaves.start + 1,
                leaves.end
            ))
        };
        if events.len() as u64 != tile.width {
            return Err(archived());
        }
        let mut out = Vec::new();
        for (e, seq) in events.iter().zip(first + 1..) {
            if e.event.seq != seq {
                return Err(archived());
            }
            let line = e.line();
            let len = u16::try_from(line.len()).map_err(|_| {
                Error::internal(anyhow::anyhow!("event {seq} is longer than an entry holds"))
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(line.as_bytes());
        }
        Ok(out)
    }

    /// The proof that event `seq` is in the tree of `size` events (the newest
    /// checkpoint's when absent), with that checkpoint. A namespace's reader
    /// proves its namespace's events only; any other is missing to it.
    pub async fn prove(&self, scope: &Scope, seq: u64, size: Option<u64>) -> Result<Inclusion> {
        self.key()?;
        let Some(CheckpointRecord { size, note, .. }) = self.tree.checkpoint(size).await? else {
            return Err(Error::Missing(format!(
                "a checkpoint of {} events (the log keeps one of every size it published)",
                size.unwrap_or(0)
            )));
        };
        let missing = || {
            Error::Missing(match scope {
                Scope::All(_) => format!(
                    "event {seq} in the tree of {size} events (events are numbered from 1; an \
                     archived event's entry is in its archive file)"
                ),
                Scope::Namespace(p) => format!(
                    "event {seq} of namespace {} in the tree of {size} events",
                    p.namespace()
                ),
            })
        };
        if seq == 0 || seq > size {
            return Err(missing());
        }
        let after = i64::try_from(seq - 1).map_err(Error::internal)?;
        let event = self.events.audit_after(after, 1).await?.into_iter().next();
        let Some(event) = event.filter(|e| e.event.seq == after + 1) else {
            return Err(missing());
        };
        if let Scope::Namespace(p) = scope
            && event.event.namespace.as_deref() != Some(p.namespace().as_str())
        {
            return Err(missing());
        }
        Ok(Inclusion {
            leaf_index: seq - 1,
            tree_size: size,
            hashes: self.hashes(&tlog::inclusion_ranges(seq - 1, size)).await?,
            checkpoint: note,
            entry: event.line(),
        })
    }

    /// The verifier key auditors pin.
    pub fn verifier_key(&self, _: &GlobalPermit<ReadAudit>) -> Result<String> {
        Ok(self.key()?.verifier_key())
    }
}

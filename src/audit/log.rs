//! The transparency log: the access log as a Merkle tree whose checkpoints
//! the log key signs, so an auditor holding the verifier key checks what it
//! was shown without trusting the database. Every replica grows the tree
//! from the chain about once a second (they take turns under the tree head's
//! lock) and signs a checkpoint of each new size.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{GlobalPermit, ReadAudit};
use crate::error::{Error, Result};
use crate::store::AuditTree;
use crate::tlog::note::{Checkpoint, LogKey};
use crate::tlog::{self};

/// Events the tree takes in one transaction.
const GROWTH: i64 = 10_000;

/// Why the log cannot sign, when it cannot.
pub enum Signing {
    Key(Box<LogKey>),
    /// Said at start-up and in every refused answer.
    Off(String),
}

pub struct TransparencyLog {
    tree: Arc<dyn AuditTree>,
    signing: Arc<Signing>,
}

impl TransparencyLog {
    pub fn new(tree: Arc<dyn AuditTree>, signing: Signing) -> Self {
        Self {
            tree,
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
        let ranges = tlog::consistency_ranges(from, to);
        let known: std::collections::HashMap<_, _> = self
            .tree
            .tree_hashes(&tlog::needs(&ranges))
            .await?
            .into_iter()
            .collect();
        tlog::hashes_of(&ranges, |n| known.get(&n).copied())
            .ok_or_else(|| Error::internal(anyhow::anyhow!("the log's tree lacks a subtree")))
    }

    /// The verifier key auditors pin.
    pub fn verifier_key(&self, _: &GlobalPermit<ReadAudit>) -> Result<String> {
        Ok(self.key()?.verifier_key())
    }
}

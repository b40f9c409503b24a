//! Lineage: what each version was built from (the document in [`record`]), the
//! queries that follow it (which versions came from this dataset, this commit,
//! this base model), and quarantines that block everything built from something
//! bad.
//!
//! Dependency rule: handlers call [`Provenance`]; it reads the `Lineage`,
//! `Models` and `Aliases` store capabilities. Results are filtered to the
//! namespaces the caller may read, by asking (`Principal::may`), which leaves no
//! trace: a global query is about no namespace.

pub mod graph;
pub mod quarantine;
pub use crate::api::lineage as record;

use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::{Permit, Principal, Read};
use crate::error::Result;
use crate::names::{CommitId, ModelName, Sha256, VersionNumber};
use crate::store::{Aliases, Direction, Lineage as LineageStore, LineageSeed, Models};

/// The records lineage operations answer with.
pub use crate::store::{LineageHit, QuarantineRecord};
pub use graph::{InputNode, LineageGraph, VersionNode};
pub use quarantine::{Imposed, QuarantinePermit};
pub use record::{Lineage, LineageBounds, MAX_FRAMEWORK_NAME};

/// A version's ancestors and descendants through `parents`.
pub struct Family {
    /// Base models, transitively, nearest first.
    pub ancestors: Vec<LineageHit>,
    /// Fine-tunes, transitively, nearest first.
    pub descendants: Vec<LineageHit>,
}

/// Lineage queries and quarantines.
pub struct Provenance {
    models: Arc<dyn Models>,
    lineage: Arc<dyn LineageStore>,
    aliases: Arc<dyn Aliases>,
}

impl Provenance {
    pub fn new(
        models: Arc<dyn Models>,
        lineage: Arc<dyn LineageStore>,
        aliases: Arc<dyn Aliases>,
    ) -> Self {
        Self {
            models,
            lineage,
            aliases,
        }
    }

    /// Versions trained on a dataset, and everything fine-tuned from them.
    pub async fn by_dataset(&self, p: &Principal, digest: Sha256) -> Result<Vec<LineageHit>> {
        let hits = self
            .lineage
            .lineage(&LineageSeed::Dataset(digest), Direction::Descendants)
            .await?;
        Ok(visible(p, hits))
    }

    /// Versions built from a commit, and everything fine-tuned from them.
    pub async fn by_commit(&self, p: &Principal, commit: CommitId) -> Result<Vec<LineageHit>> {
        let hits = self
            .lineage
            .lineage(&LineageSeed::Commit(commit), Direction::Descendants)
            .await?;
        Ok(visible(p, hits))
    }

    /// A version's ancestors and descendants, any depth, as far as the caller
    /// may see.
    pub async fn family(
        &self,
        permit: &Permit<Read>,
        p: &Principal,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Family> {
        let v = self.models.get_version(&permit.model(name), number).await?;
        let seed = LineageSeed::Version(v.id);
        let up = self.lineage.lineage(&seed, Direction::Ancestors).await?;
        let down = self.lineage.lineage(&seed, Direction::Descendants).await?;
        let strict = |hits: Vec<LineageHit>| hits.into_iter().filter(|h| h.depth > 0).collect();
        Ok(Family {
            ancestors: visible(p, strict(up)),
            descendants: visible(p, strict(down)),
        })
    }
}

/// Keeps only what the principal may read; asks once per namespace.
pub fn visible(p: &Principal, hits: Vec<LineageHit>) -> Vec<LineageHit> {
    let mut seen = HashMap::new();
    hits.into_iter()
        .filter(|h| {
            *seen
                .entry(h.version.namespace.clone())
                .or_insert_with(|| p.may::<Read>(&h.version.namespace))
        })
        .collect()
}

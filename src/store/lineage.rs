//! Lineage walks (what was built from what) and quarantines.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::kinds::{BindingScope, QuarantineTarget};
use crate::names::{CommitId, PrincipalName, Sha256};
use crate::store::{Pending, VersionRecord};

/// Where a lineage walk starts.
#[derive(Debug, Clone)]
pub enum LineageSeed {
    /// Versions trained on this dataset digest.
    Dataset(Sha256),
    /// Versions built from this commit.
    Commit(CommitId),
    Version(Uuid),
}

/// Which way a lineage walk follows `parents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Descendants,
    Ancestors,
}

/// A version reached by a lineage walk, `depth` steps through `parents` from the seed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineageHit {
    #[sqlx(flatten)]
    pub version: VersionRecord,
    pub depth: i64,
}

/// A quarantine of a dataset digest, a commit or a version.
#[derive(Debug, Clone)]
pub struct QuarantineRecord {
    pub id: Uuid,
    pub target: QuarantineTarget,
    /// The namespaces whose versions it blocks, or the global scope (`*`).
    pub scope: Vec<BindingScope>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<PrincipalName>,
    pub lift_reason: Option<String>,
}

#[async_trait]
pub trait Lineage: Send + Sync {
    /// The seed versions and every version reached from them through `parents`.
    async fn lineage(&self, seed: &LineageSeed, dir: Direction) -> Result<Vec<LineageHit>>;
    /// Whether the version is quarantined: by a quarantine whose scope covers
    /// the version's namespace, of the version itself or any ancestor, or of a
    /// dataset digest or commit in their lineage.
    async fn is_quarantined(&self, version_id: Uuid) -> Result<bool>;
    /// The quarantines in force that hold the version (by the rule of
    /// [`Lineage::is_quarantined`]), oldest first.
    async fn quarantines_holding(&self, version_id: Uuid) -> Result<Vec<QuarantineRecord>>;
    /// Records a quarantine; `version_id` is the quarantined version's id for a
    /// version target.
    async fn create_quarantine(
        &self,
        q: &QuarantineRecord,
        version_id: Option<Uuid>,
        audit: &Pending,
    ) -> Result<()>;
    async fn get_quarantine(&self, id: Uuid) -> Result<QuarantineRecord>;
    /// Quarantines ordered by creation, after `after` (an id).
    async fn list_quarantines(&self, after: Uuid, limit: i64) -> Result<Vec<QuarantineRecord>>;
    /// Lifts an active quarantine; `Conflict` when already lifted.
    async fn lift_quarantine(
        &self,
        id: Uuid,
        by: &PrincipalName,
        reason: &str,
        at: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<()>;
}

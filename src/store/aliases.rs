//! Aliases (where each points now) and their history (every move, never rewritten).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::names::{AliasName, ModelRef, PrincipalName, VersionNumber};
use crate::store::Pending;

/// A move to record: point `alias` of `model` at `version` (None removes it).
#[derive(Clone)]
pub struct NewAliasMove<'a> {
    pub model: &'a ModelRef,
    pub alias: &'a AliasName,
    pub version: Option<VersionNumber>,
    pub principal: &'a PrincipalName,
    pub reason: &'a str,
    /// For a promotion: the trust epoch the version was judged at. The move
    /// happens only if nothing removed trust since (`TrustChanged` otherwise),
    /// atomically with it.
    pub judged_at_epoch: Option<i64>,
    /// Signs the move's promotion record, given the version the alias left
    /// and the move's time (both known only under the alias row's lock); kept
    /// with the move. None: no record.
    pub record: Option<&'a RecordFn<'a>>,
}

/// Makes a move's signed promotion record from the version the alias pointed
/// at before and the move's time.
pub type RecordFn<'a> = dyn Fn(Option<VersionNumber>, DateTime<Utc>) -> String + Send + Sync + 'a;

/// One move of an alias; `version` is None when the alias was deleted.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AliasMove {
    pub id: i64,
    pub alias: AliasName,
    pub version: Option<VersionNumber>,
    pub previous_version: Option<VersionNumber>,
    pub principal: PrincipalName,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// The promotion record the registry signed at the move (a DSSE
    /// envelope), when it signs them.
    pub record: Option<String>,
}

#[async_trait]
pub trait Aliases: Send + Sync {
    /// Points an alias at a version (or removes it with None), recording the move
    /// in the history in the same transaction; returns the previous version.
    /// Removing an alias that points nowhere is `NotFound`. The move's time is
    /// taken inside the transaction, after its locks.
    async fn move_alias(
        &self,
        m: &NewAliasMove<'_>,
        audit: &Pending,
    ) -> Result<Option<VersionNumber>>;
    /// Whether an alias moved away from (or was removed from) `version` at
    /// `since` or later.
    async fn left_since(
        &self,
        model: &ModelRef,
        version: VersionNumber,
        since: DateTime<Utc>,
    ) -> Result<bool>;
    /// alias → version for a model's current aliases.
    async fn aliases_of(&self, model: &ModelRef) -> Result<Vec<(AliasName, VersionNumber)>>;
    /// An alias's moves (every alias's, without one), newest first, with ids
    /// below `before`.
    async fn alias_history(
        &self,
        model: &ModelRef,
        alias: Option<&AliasName>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AliasMove>>;
}

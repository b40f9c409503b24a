//! The metadata store: all SQL lives below this module.
//!
//! Dependency rule: domain modules call [`Store`]; the store calls nothing above it.
//! Both backends run the same SQL text (see `sql.rs`), each compiled against its own
//! driver, and the conformance suite in `tests/` runs every case on both. Constraint
//! violations are mapped here, so both backends return the same domain errors.

mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A stored API token (never the secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: Uuid,
    pub principal: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleBinding {
    pub principal: String,
    pub namespace: String,
    pub role: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NamespaceRecord {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ModelRecord {
    pub id: Uuid,
    pub namespace: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub latest_version: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRecord {
    pub id: Uuid,
    pub namespace: String,
    pub model: String,
    pub version: i64,
    pub state: String,
    pub lineage: sqlx::types::Json<Value>,
    pub metadata: sqlx::types::Json<Value>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub sealed_at: Option<DateTime<Utc>>,
    pub root_digest: Option<String>,
}

impl VersionRecord {
    pub fn is_sealed(&self) -> bool {
        self.state == "sealed"
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRecord {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    pub blob_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `safetensors`, `onnx`, `gguf`, `pickle` or `unknown`, from the bytes.
    pub format: String,
}

/// A registered public key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub keyid: String,
    pub name: String,
    pub algorithm: String,
    pub public_key: String,
    pub namespaces: sqlx::types::Json<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub revocation_note: Option<String>,
}

/// A signature document as received.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignatureRecord {
    pub keyid: String,
    pub envelope: String,
    pub received_at: DateTime<Utc>,
    pub received_by: String,
}

/// A move to record: point `alias` of `namespace/model` at `version` (None removes it).
#[derive(Debug, Clone)]
pub struct NewAliasMove<'a> {
    pub namespace: &'a str,
    pub model: &'a str,
    pub alias: &'a str,
    pub version: Option<i64>,
    pub principal: &'a str,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// One move of an alias; `version` is None when the alias was deleted.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AliasMove {
    pub id: i64,
    pub alias: String,
    pub version: Option<i64>,
    pub previous_version: Option<i64>,
    pub principal: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Which namespaces a listing may show.
#[derive(Debug, Clone)]
pub enum Visibility {
    All,
    /// Only namespaces where this principal holds a role.
    MemberOf(String),
}

/// A new draft version, before the store gives it a number.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: Uuid,
    pub lineage: Value,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Indexed copies of the lineage, for lineage queries and quarantine.
    pub code_commit: Option<String>,
    pub datasets: Vec<String>,
    /// Ids of the (sealed) parent versions.
    pub parents: Vec<Uuid>,
}

/// Where a lineage walk starts.
#[derive(Debug, Clone)]
pub enum LineageSeed {
    /// Versions trained on this dataset digest.
    Dataset(String),
    /// Versions built from this commit.
    Commit(String),
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
    pub principal: Option<String>,
    pub action: Option<String>,
    pub namespace: Option<String>,
    pub model: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub request_id: Option<String>,
}

/// A quarantine of a dataset digest, a commit or a version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuarantineRecord {
    pub id: Uuid,
    pub kind: String,
    pub value: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

/// Computes the root digest of a sealed file set; the store calls it inside the
/// sealing transaction so the digest covers exactly the files that were sealed.
pub type RootFn = dyn Fn(&[FileRecord]) -> String + Send + Sync;

/// The metadata store, one implementation per backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database does (readiness).
    async fn ping(&self) -> Result<()>;

    // Tokens and role bindings.
    async fn token_by_secret_hash(&self, hash: &[u8]) -> Result<Option<TokenRecord>>;
    /// Creates the first admin token and its binding, only when no token exists yet.
    /// Returns false (and writes nothing) when the database already has tokens.
    async fn bootstrap_admin(&self, token: &TokenRecord, secret_hash: &[u8]) -> Result<bool>;
    async fn touch_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    async fn roles_of(&self, principal: &str) -> Result<Vec<RoleBinding>>;
    async fn create_token(&self, token: &TokenRecord, secret_hash: &[u8]) -> Result<()>;
    async fn get_token(&self, id: Uuid) -> Result<TokenRecord>;
    /// Tokens ordered by id (creation time), after `after`, optionally of one principal.
    async fn list_tokens(
        &self,
        principal: Option<&str>,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<TokenRecord>>;
    /// Marks a token revoked (keeping the first revocation time).
    async fn revoke_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Replaces a principal's roles in a namespace (`*` for global roles).
    async fn set_roles(
        &self,
        principal: &str,
        namespace: &str,
        roles: &[String],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Bindings of a namespace, ordered by principal, for principals after `after`.
    async fn members(&self, namespace: &str, after: &str, limit: i64) -> Result<Vec<RoleBinding>>;
    /// Removes all of a principal's roles in a namespace; `NotFound` when it had none.
    async fn remove_member(&self, namespace: &str, principal: &str) -> Result<()>;

    // Namespaces.
    async fn create_namespace(&self, ns: &NamespaceRecord) -> Result<()>;
    async fn get_namespace(&self, name: &str) -> Result<NamespaceRecord>;
    async fn list_namespaces(
        &self,
        vis: &Visibility,
        after: &str,
        limit: i64,
    ) -> Result<Vec<NamespaceRecord>>;

    // Models.
    async fn create_model(&self, m: &ModelRecord) -> Result<()>;
    async fn get_model(&self, namespace: &str, name: &str) -> Result<ModelRecord>;
    /// Models ordered by (namespace, name), after the given pair.
    async fn list_models(
        &self,
        vis: &Visibility,
        namespace: Option<&str>,
        after: (&str, &str),
        limit: i64,
    ) -> Result<Vec<ModelRecord>>;

    // Versions and files.
    /// Allocates the next version number of the model and inserts a draft, in one
    /// transaction, so numbers are gap-free and never reused.
    async fn create_version(
        &self,
        namespace: &str,
        model: &str,
        v: &NewVersion,
    ) -> Result<VersionRecord>;
    async fn get_version(
        &self,
        namespace: &str,
        model: &str,
        version: i64,
    ) -> Result<VersionRecord>;
    /// Versions newest first, with numbers below `before`.
    async fn list_versions(
        &self,
        namespace: &str,
        model: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<VersionRecord>>;
    async fn files_of(&self, version_id: Uuid) -> Result<Vec<FileRecord>>;
    /// Records (or replaces) a file of a draft version. Refuses with `VersionSealed`
    /// when the version was sealed meanwhile, and with `Conflict` when the path
    /// would be both a file and a directory.
    async fn put_file(&self, version_id: Uuid, f: &FileRecord) -> Result<()>;
    async fn delete_file(&self, version_id: Uuid, path: &str) -> Result<()>;
    /// Seals a draft: freezes its files and records the root digest.
    async fn seal_version(
        &self,
        version_id: Uuid,
        at: DateTime<Utc>,
        root: &RootFn,
    ) -> Result<VersionRecord>;

    // Namespace policy.
    async fn get_policy(&self, namespace: &str) -> Result<Value>;
    async fn set_policy(&self, namespace: &str, policy: &Value) -> Result<()>;

    // Keys and signatures.
    async fn create_key(&self, key: &KeyRecord) -> Result<()>;
    async fn get_key(&self, keyid: &str) -> Result<KeyRecord>;
    /// Keys ordered by keyid, after `after`.
    async fn list_keys(&self, after: &str, limit: i64) -> Result<Vec<KeyRecord>>;
    /// Every key, for verification.
    async fn all_keys(&self) -> Result<Vec<KeyRecord>>;
    async fn revoke_key(
        &self,
        keyid: &str,
        reason: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Stores a verified signature; `Conflict` when that key already signed the version.
    async fn add_signature(&self, version_id: Uuid, s: &SignatureRecord) -> Result<()>;
    async fn signatures_of(&self, version_id: Uuid) -> Result<Vec<SignatureRecord>>;
    /// Versions carrying a signature by this key.
    async fn versions_signed_by(&self, keyid: &str) -> Result<Vec<VersionRecord>>;

    // Aliases.
    /// Points an alias at a version (or removes it with None), recording the move
    /// in the history in the same transaction; returns the previous version.
    async fn move_alias(&self, m: &NewAliasMove<'_>) -> Result<Option<i64>>;
    /// alias → version for a model's current aliases.
    async fn aliases_of(&self, namespace: &str, model: &str) -> Result<Vec<(String, i64)>>;
    /// A model's alias moves, newest first, with ids below `before`.
    async fn alias_history(
        &self,
        namespace: &str,
        model: &str,
        alias: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AliasMove>>;

    // Lineage and quarantine.
    /// The seed versions and every version reached from them through `parents`.
    async fn lineage(&self, seed: &LineageSeed, dir: Direction) -> Result<Vec<LineageHit>>;
    /// Whether the version, or any ancestor, is quarantined (by itself, a dataset
    /// digest or a commit in its lineage).
    async fn is_quarantined(&self, version_id: Uuid) -> Result<bool>;
    async fn create_quarantine(&self, q: &QuarantineRecord) -> Result<()>;
    async fn get_quarantine(&self, id: Uuid) -> Result<QuarantineRecord>;
    /// Quarantines ordered by creation, after `after` (an id).
    async fn list_quarantines(&self, after: Uuid, limit: i64) -> Result<Vec<QuarantineRecord>>;
    /// Lifts an active quarantine; `Conflict` when already lifted.
    async fn lift_quarantine(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;

    // Audit.
    /// Appends events of requests that changed nothing, in one transaction.
    async fn append_audit(&self, events: Vec<crate::audit::Event>) -> Result<()>;
    async fn audit_head(&self) -> Result<AuditHead>;
    /// Events in chain order after `after`.
    async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<crate::audit::ChainedEvent>>;
    /// Drops events up to `through` and makes (`through`, `hash`) the anchor,
    /// unless the anchor moved since `old_anchor` was read (`Conflict`).
    async fn prune_audit(&self, old_anchor: i64, through: i64, hash: &str) -> Result<()>;
    /// Events matching a filter, newest first, with `seq` below `before`.
    async fn query_audit(
        &self,
        f: &AuditFilter,
        before: i64,
        limit: i64,
    ) -> Result<Vec<crate::audit::ChainedEvent>>;

    // Blob bookkeeping.
    /// Which of these blob ids a file row references.
    async fn referenced_blobs(&self, ids: &[Uuid]) -> Result<Vec<Uuid>>;
}

/// Connects to the store named by the URL scheme (`postgres://` or `sqlite://`),
/// runs its migrations, and returns it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(Error::invalid(
            "database URL must start with postgres:// or sqlite://",
        ))
    }
}

/// A write transaction. On SQLite it also holds the process's writer lock (see
/// `sqlite.rs`); it dereferences to the connection like a `sqlx::Transaction`.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Maps a unique-constraint violation to `Conflict` and a foreign-key violation to
/// `NotFound`; anything else goes through the generic mapping.
fn map_constraint(e: sqlx::Error, conflict: &str) -> Error {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            return Error::Conflict(conflict.to_owned());
        }
        if db.is_foreign_key_violation() {
            return Error::NotFound;
        }
    }
    e.into()
}

//! The metadata store: all SQL lives below this module.
//!
//! Dependency rule: domain services hold the capability traits they use
//! ([`Tokens`], [`Bindings`], [`Namespaces`], [`Models`], [`Keys`], [`Aliases`],
//! [`Lineage`], [`AuditLog`], [`BlobRefs`], [`Uploads`], [`Usage`], [`Publishers`], [`AuditTree`]); [`Store`] is their sum, which only
//! start-up code sees. The store depends on nothing above it: only on the typed
//! values of `names` and `kinds`, which it binds and reads directly.
//!
//! Each aggregate has a file here with its trait and records, and one file of SQL
//! in `sql/`. Both backends run the same SQL text (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, row values, `WITH RECURSIVE` and `substr` mean the same in
//! PostgreSQL and SQLite): `postgres.rs` and `sqlite.rs` each compile `sql/` (its
//! `mod.rs` lists the files once) as a module of their own, where `Db` and
//! `Store` name that backend. The
//! conformance suite in `tests/` runs every case on both.
//!
//! Writes: every method that changes something takes the request's [`Pending`]
//! audit event and ends in `sql/audit.rs`'s `commit`, the one way to commit,
//! which records that event in the same transaction (in the audit inbox: the
//! chain's head lock is taken later, by one appender for many events). Locking: each write
//! transaction starts by updating the row it depends on, which takes PostgreSQL's
//! row lock and re-checks the condition after waiting; SQLite's `BEGIN IMMEDIATE`
//! serializes writers as a whole.

mod aliases;
mod attestations;
mod audit;
mod bindings;
mod blobs;
mod keys;
mod lineage;
pub mod migrate;
mod models;
mod namespaces;
mod postgres;
mod publishers;
mod sqlite;
mod streams;
mod tlog;
mod tokens;
mod uploads;
mod usage;
mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};

pub use aliases::{AliasMove, Aliases, NewAliasMove, RecordFn};
pub use attestations::{AttestationRecord, Attestations};
pub use audit::{
    AuditEvent, AuditFilter, AuditHead, AuditLog, ChainedEvent, Order, Pending, timestamp,
};
pub use bindings::{Bindings, RoleBinding, Visibility};
pub use blobs::BlobRefs;
pub use keys::{KeyRecord, Keys, SignatureRecord};
pub use lineage::{Direction, Lineage, LineageHit, LineageSeed, QuarantineRecord};
pub use migrate::{MigrationPolicy, PendingMigration};
pub use models::{
    FileRecord, ModelRecord, Models, NewVersion, RootFn, VersionEntry, VersionRecord,
};
pub use namespaces::{NamespaceRecord, Namespaces};
pub use postgres::PgStore;
pub use publishers::{Exchange, PublisherRecord, PublisherTokenRecord, Publishers};
pub use sqlite::SqliteStore;
pub use streams::AuditStreams;
pub use tlog::{AuditTree, CheckpointRecord, SignFn};
pub use tokens::{CredentialRecord, RegistryCredential, RegistryTokenRecord, TokenRecord, Tokens};
pub use uploads::{PartCommit, UploadPart, UploadRecord, Uploads};
pub use usage::{Usage, UsageCharge, UsageTotals};
pub use webhooks::{
    AfterAttempt, AttemptRecord, DeliveryRecord, Queued, Subscriptions, WebhookChange,
    WebhookRecord,
};

/// Readiness: whether the database answers.
#[async_trait]
pub trait Health: Send + Sync {
    async fn ping(&self) -> Result<()>;
    /// The connection pool at this moment.
    fn pool_usage(&self) -> PoolUsage;
}

/// A connection pool's connections at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// The whole metadata store: the sum of the capabilities.
pub trait Store:
    Tokens
    + Bindings
    + Namespaces
    + Models
    + Keys
    + Aliases
    + Lineage
    + AuditLog
    + BlobRefs
    + Uploads
    + Usage
    + Publishers
    + AuditTree
    + AuditStreams
    + Subscriptions
    + Health
{
}

impl<T> Store for T where
    T: Tokens
        + Bindings
        + Namespaces
        + Models
        + Keys
        + Aliases
        + Lineage
        + AuditLog
        + BlobRefs
        + Uploads
        + Usage
        + Publishers
        + AuditTree
        + AuditStreams
        + Subscriptions
        + Health
{
}

/// Connects to the store named by the URL scheme (`postgres://` or `sqlite://`),
/// runs its migrations, and returns it.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>> {
    open(url, max_connections, &MigrationPolicy::default()).await
}

/// Connects to the store named by the URL scheme, migrating it (or checking that
/// it needs no migration) as `policy` says; see [`migrate`].
pub async fn open(
    url: &str,
    max_connections: u32,
    policy: &MigrationPolicy,
) -> Result<Arc<dyn Store>> {
    match Backend::of(url)? {
        Backend::Postgres => Ok(Arc::new(
            PgStore::connect(url, max_connections, policy).await?,
        )),
        Backend::Sqlite => Ok(Arc::new(SqliteStore::connect(url, policy).await?)),
    }
}

/// Brings the database at `url` up to this build's schema (see [`migrate`]) and
/// returns what it applied.
pub async fn migrate(url: &str, policy: &MigrationPolicy) -> Result<Vec<PendingMigration>> {
    match Backend::of(url)? {
        Backend::Postgres => migrate::migrate_postgres(url, policy).await,
        Backend::Sqlite => migrate::migrate_sqlite(&sqlite::pool(url).await?, policy).await,
    }
}

/// The migrations this build has that the database at `url` lacks, oldest first.
pub async fn pending_migrations(url: &str) -> Result<Vec<PendingMigration>> {
    match Backend::of(url)? {
        Backend::Postgres => migrate::pending_postgres(url).await,
        Backend::Sqlite => migrate::pending_sqlite(sqlite::options(url)?).await,
    }
}

/// The database a URL names.
enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    fn of(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(Error::invalid(
                "database URL must start with postgres:// or sqlite://",
            ))
        }
    }
}

/// A connection used this recently is taken from the pool without a ping first.
/// The pool pings every connection as it comes back (and drops one that fails);
/// a second round trip before every statement, as sqlx does by default, cost the
/// database a wake-up per statement. One idle longer is pinged before it is
/// used, so a database restarted while the pool slept is noticed before a request
/// is; one broken within this window fails its request with a 503 and is dropped.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// Pool options both backends share: see [`PING_IF_IDLE_FOR`].
fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// A write transaction. On SQLite it also holds the process's writer lock (see
/// `sqlite.rs`); it dereferences to the connection like a `sqlx::Transaction`.
/// It has no public commit: writes end in the backend's `commit`, which appends
/// the request's audit event.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
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

#[cfg(test)]
mod tests {
    /// Every shipped migration (`migrations/checksums.txt`): backend, version,
    /// and the SHA-384 sqlx records for it.
    fn shipped() -> Vec<(String, i64, String)> {
        include_str!("../../migrations/checksums.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut w = l.split_whitespace();
                let (b, v, h) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
                (b.to_owned(), v.parse().unwrap(), h.to_owned())
            })
            .collect()
    }

    fn checksums(
        m: &sqlx::migrate::Migrator,
        backend: &'static str,
    ) -> Vec<(&'static str, i64, String)> {
        m.iter()
            .map(|m| (backend, m.version, hex::encode(&*m.checksum)))
            .collect()
    }

    #[test]
    fn migrations_are_append_only() {
        let mut found = checksums(&sqlx::migrate!("migrations/postgres"), "postgres");
        found.extend(checksums(&sqlx::migrate!("migrations/sqlite"), "sqlite"));
        let shipped = shipped();
        for (backend, version, sum) in &shipped {
            let now = found.iter().find(|(b, v, _)| b == backend && v == version);
            assert_eq!(
                now.map(|(_, _, s)| s.as_str()),
                Some(sum.as_str()),
                "{backend} migration {version} was edited or removed after it shipped"
            );
        }
        assert_eq!(
            found.len(),
            shipped.len(),
            "a new migration adds its line to migrations/checksums.txt"
        );
    }
}

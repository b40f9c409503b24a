//! The metadata store: all SQL lives below this module.
//!
//! Dependency rule: domain services hold the capability traits they use
//! ([`Tokens`], [`Bindings`], [`Namespaces`], [`Models`], [`Keys`], [`Aliases`],
//! [`Lineage`], [`AuditLog`], [`BlobRefs`]); [`Store`] is their sum, which only
//! start-up code sees. The store depends on nothing above it: only on the typed
//! values of `names` and `kinds`, which it binds and reads directly.
//!
//! Each aggregate has a file here with its trait and records, and one file of SQL
//! in `sql/`. Both backends run the same SQL text (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, row values, `WITH RECURSIVE` and `substr` mean the same in
//! PostgreSQL and SQLite): `postgres.rs` and `sqlite.rs` each compile every file of
//! `sql/` as a module of their own, where `Db` and `Store` name that backend. The
//! conformance suite in `tests/` runs every case on both.
//!
//! Writes: every method that changes something takes the request's [`Pending`]
//! audit event and ends in `sql/audit.rs`'s `commit`, the one way to commit,
//! which appends that event in the same transaction. Locking: each write
//! transaction starts by updating the row it depends on, which takes PostgreSQL's
//! row lock and re-checks the condition after waiting; SQLite's `BEGIN IMMEDIATE`
//! serializes writers as a whole.

mod aliases;
mod audit;
mod bindings;
mod blobs;
mod keys;
mod lineage;
mod models;
mod namespaces;
mod postgres;
mod sqlite;
mod tokens;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};

pub use aliases::{AliasMove, Aliases, NewAliasMove};
pub use audit::{AuditEvent, AuditFilter, AuditHead, AuditLog, ChainedEvent, Pending, timestamp};
pub use bindings::{Bindings, RoleBinding, Visibility};
pub use blobs::BlobRefs;
pub use keys::{KeyRecord, Keys, SignatureRecord};
pub use lineage::{Direction, Lineage, LineageHit, LineageSeed, QuarantineRecord};
pub use models::{FileRecord, ModelRecord, Models, NewVersion, RootFn, VersionRecord};
pub use namespaces::{NamespaceRecord, Namespaces};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use tokens::{TokenRecord, Tokens};

/// Readiness: whether the database answers.
#[async_trait]
pub trait Health: Send + Sync {
    async fn ping(&self) -> Result<()>;
}

/// The whole metadata store: the sum of the capabilities.
pub trait Store:
    Tokens + Bindings + Namespaces + Models + Keys + Aliases + Lineage + AuditLog + BlobRefs + Health
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
        + Health
{
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

//! The metadata store: all SQL lives below this module.
//!
//! Dependency rule: domain services hold the capability traits they use
//! ([`Tokens`], [`Bindings`], [`Namespaces`], [`Models`], [`Keys`], [`Aliases`],
//! [`Lineage`], [`AuditLog`], [`BlobRefs`], [`Uploads`], [`Usage`]); [`Store`] is their sum, which only
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
mod audit;
mod bindings;
mod blobs;
mod keys;
mod lineage;
pub mod migrate;
mod models;
mod namespaces;
mod postgres;
mod sqlite;
mod tokens;
mod uploads;
mod usage;

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};

pub use aliases::{AliasMove, Aliases, NewAliasMove};
pub use audit::{AuditEvent, AuditFilter, AuditHead, AuditLog, ChainedEvent, Pending, timestamp};
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
pub use sqlite::SqliteStore;
pub use tokens::{CredentialRecord, TokenRecord, Tokens};
pub use uploads::{PartCommit, UploadPart, UploadRecord, Uploads};
pub use usage::{Usage, UsageCharge, UsageTotals};

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
    /// Every shipped migration, by version, with the SHA-384 sqlx records for it.
    /// A database migrated with one text refuses to start against another, so a
    /// shipped migration never changes: add the next one (see migrations/README.md).
    const SHIPPED: &[(&str, i64, &str)] = &[
        (
            "postgres",
            1,
            "fd0731b7a831cf4ac934afeda4bd294d0d42dc674cfde786d57877d4ed1431101b9cb22a88188c7720ea1e23176c3c70",
        ),
        (
            "postgres",
            2,
            "3a6b431223b3445aaf709c19f25bd4aa009802ab374f5d9de13f7142c2b75c0c0582c779ce22a06a65082c39b83bd6ac",
        ),
        (
            "postgres",
            3,
            "1e3f14e16186fecc30c036f007ecd324c0b4ba9d7c9c14f6f7502456d534e8c9ed25bf5ae5d00ff373215f5b360c0d1d",
        ),
        (
            "postgres",
            4,
            "dc7d268011f3ba28fcee47b082f31fa3533ccdc7636717f7b4a9b2602770ecea7e5915c994ed549cf7eeafa9328a7ad3",
        ),
        (
            "postgres",
            5,
            "74021c7509ff623e2fdddb78a0ed2ea185cfa5ff3ad416607fd010ef8bc2db80838e6669f7b056ef95a11a4d7504b42e",
        ),
        (
            "postgres",
            6,
            "ecea58fcd21ed4d6e365e2074efd3d08e324b3db2f3f459b8cc4e391c4a4d2d9240904def07c7cd902db2c5d263c2b2d",
        ),
        (
            "postgres",
            7,
            "2240c43176c676c55c27e0cf5f093fedb3edc034afadd3452462327b5fe7822bd72310709099d331445d769541cc57da",
        ),
        (
            "postgres",
            8,
            "9fcd359b48657b247b17cc583ba7ce354dc402284709cc132647e5c270a4941c45e76730c2defe08fb9e4fd114bcfb8c",
        ),
        (
            "postgres",
            9,
            "f001dfaa2bae2bb3a162fb6b8a66bf5f2b10c5f867dd2c6fbe5c3fc1fac187530ccf0f5e551fa1490efaaa4ec3eec9dd",
        ),
        (
            "postgres",
            10,
            "725120075200300c16e7760e2eb27d391b4f5d2f722c27ce3cf2dccc807edb25fb841e5238811f6e2ae0fb381bae4e61",
        ),
        (
            "postgres",
            11,
            "308f9967f9827acbcadc455d3261c876bdf2f352389ae9336e42a60de1ca83247362a96fe67cf74eab01ef6a75ba128e",
        ),
        (
            "postgres",
            12,
            "a011b208bdb61583c13aa35fe9f95883cc00cbca5f6af0926edadd8762229b9bfa3b84f4c81832c64707a75a04467988",
        ),
        (
            "postgres",
            13,
            "f1361b814f0e2069294cdd8279fb8b9792a3a1e0422da7c5f5fb1f85de6db45d30b6f9d55fa0412b3eff3da961ff9fad",
        ),
        (
            "postgres",
            14,
            "d8067bdf937ba596fc480b287b179aa4ad4690d5e988eb57405dc5e394ac9f4ecba891f59ab9d6fc67d3a25a7cf44c81",
        ),
        (
            "postgres",
            15,
            "2bd3fef62170859c22dcc99fe81ff92c2cc429f1c3434565296e5187bb7aec1404978f5a5b3720338a96fe3a7772ecde",
        ),
        (
            "postgres",
            16,
            "9b88e5dcd0e33606c9f973212d9cfb582bae9fd91a15b652c47481dc7c8113a910fa70c4aa78b7519be30efe3d148135",
        ),
        (
            "postgres",
            17,
            "4c2730d20dbbb53d82b595714a911a840e2adf42803320ef733dd54bfb0d970773077b90cb5757514c8106f48a2feb0f",
        ),
        (
            "postgres",
            18,
            "c65a4d69d6a57ee7dda61634f2b6ae6fb320fca9520883a9d438af2da5217087f036339506c5b361786c10d25f84f2ba",
        ),
        (
            "postgres",
            19,
            "139c5ea0b1ed7d162d3ccc9e256933f1404cbf1c22236d8956b07a8b63f826acd5322c476d47d81b1b860b0df6c3352f",
        ),
        (
            "sqlite",
            1,
            "6da7ea66d96145da0fca7887f2443bca8a9382035b0d6a2b953ff2e32196e6a5f22596da363f6da97f4f25afa47ed5dd",
        ),
        (
            "sqlite",
            2,
            "decbd6e42341468cf416692d55f89917f9a9867e131c32143ce91c85904789dc3088058f7cb4954a8a0221197dd03393",
        ),
        (
            "sqlite",
            3,
            "6b4c301fa44cf2301305d69ca26b0a40655e292bf20488bcb93d40cdc123363aeb84308c061e45d3bbf760a166e189f8",
        ),
        (
            "sqlite",
            4,
            "fc137dc9a4ffa5c2c4402f58294a911f19266a58bfa14dd625bde0ce2c64d7cd8ed175625c3745838d1f2c5b8dbc4bc5",
        ),
        (
            "sqlite",
            5,
            "187ce39e0ce6cb936df3a9d265d4b46c24a5867ab5d319b50f8b0e25e7d0fee4af4540b59592f60efe9a46e5fc0088b0",
        ),
        (
            "sqlite",
            6,
            "eafd12b89ae6b81f1b567dad7ef4dc18c31d572e78980d49636ca7e3a95053de31c4143ea39deb8a3435e831295f3d56",
        ),
        (
            "sqlite",
            7,
            "49230028794814e3cb001d549745211964495b5246362350fa5b3b2b1ab4b4047939c3f94ec49b05b568b568106fbb7b",
        ),
        (
            "sqlite",
            8,
            "4e84e3b297e8c4b6c6ac495a94148bc8e14a46f542c78d7890d6492c6297f4f6d416da4a46f8f736c0528b92c7c80979",
        ),
        (
            "sqlite",
            9,
            "6aebcea218a61c64978637b280edeb752e653e09176dc4978ddf5cccf1c700771151f8f037d9bd506b3837dda0f19ac1",
        ),
        (
            "sqlite",
            10,
            "aae671681f698466880bf2e6443ec3afb0ac25e51f86514469322f1d1c9d68c4cb585ec0326ede13d1cd512c4e9cb45b",
        ),
        (
            "sqlite",
            11,
            "38f2cd1bf33873ac0764cafcfd419fbf28301007571dec2723125208f38aa8e53b7c87b631b53b6b82c5f2133aeb5c62",
        ),
        (
            "sqlite",
            12,
            "a011b208bdb61583c13aa35fe9f95883cc00cbca5f6af0926edadd8762229b9bfa3b84f4c81832c64707a75a04467988",
        ),
        (
            "sqlite",
            13,
            "d306be813021cf7796fadc92d51275193eb040a63fee7fe3b378367fb8cc475595cf9d7b6f02a6f6f21f5b1c5a4968ed",
        ),
        (
            "sqlite",
            14,
            "cb854396e4ea1539cbeb776fab3e632edfc185b3484d36b49242d2684367636bc951786bf1ced39f9dfbc2a859e89d43",
        ),
        (
            "sqlite",
            15,
            "8ea98a5f83f0e89594d782842a2b482cbe8b73a53dd159107952eda0bd138161118a9e1b69e80e4b446f6139d50a84c2",
        ),
        (
            "sqlite",
            16,
            "5512e75b75b56498a1b2938840b14ab27e1cc24563ef624e3544e43d6190bdf0fe73d6d7c8dae208e44f59a05afba07e",
        ),
        (
            "sqlite",
            17,
            "7912bb6256e298e849267d74a96cadcbcc49734b452542d529ba59777be1f40ccac6bae5c9d92ff20759e30a1c1b5f11",
        ),
        (
            "sqlite",
            18,
            "fc9c6209d1779f1437557b2b8a431358cae5fc2e230e119bc5bb9a687a14827cc2e1e29220d4838a5b6016048b160b47",
        ),
        (
            "sqlite",
            19,
            "e23c3efe73dd6549caf6d81f42ce1053d3437b41349058b1fc4ef3c554b0a0677e081c3456f60add7f5c4d46ed4889b6",
        ),
        (
            "postgres",
            20,
            "ffc38cb4308b1e21ab29d7ffcbf25218f38e1e6b9b3d9c7c715552d5c6fcd3484ab171f1dc7b714d3b8084d4c7337fcc",
        ),
        (
            "sqlite",
            20,
            "ef018801a5dbe83984db102491de43ca5dfaa7bd4db97936efdbee38ba0b5fffdd181a42cbad925134405fe30c96ac59",
        ),
    ];

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
        for (backend, version, sum) in SHIPPED {
            let now = found.iter().find(|(b, v, _)| b == backend && v == version);
            assert_eq!(
                now.map(|(_, _, s)| s.as_str()),
                Some(*sum),
                "{backend} migration {version} was edited or removed after it shipped"
            );
        }
        assert_eq!(
            found.len(),
            SHIPPED.len(),
            "a new migration adds its line to SHIPPED"
        );
    }
}

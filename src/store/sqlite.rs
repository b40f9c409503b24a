//! SQLite backend: the embedded default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};

use super::WriteTx;
use crate::error::{Error, Result};

/// This backend's driver, for the shared SQL in `sql/`.
type Db = sqlx::Sqlite;
/// The `db.system` of this backend's trace spans.
const DB_SYSTEM: &str = "sqlite";
/// Access-log batches in flight: one, as the process's writer lock takes them
/// one at a time anyway (a second only halves the batches).
const APPENDS_IN_FLIGHT: usize = 1;
/// Reads the trust epoch; `BEGIN IMMEDIATE` already keeps every other writer out.
const HOLD_TRUST: &str = "SELECT n FROM trust_epoch WHERE id = 1";
/// This backend's store, for the shared SQL in `sql/`.
type Store = SqliteStore;

#[macro_use]
#[path = "sql/mod.rs"]
mod sql;

/// Writes chained events and moves the head to (`seq`, `hash`): many rows per
/// statement, in a few fixed sizes (each one statement text, prepared once per
/// connection).
async fn append_chained(
    conn: &mut sqlx::SqliteConnection,
    chained: &[crate::store::ChainedEvent],
    seq: i64,
    hash: &str,
) -> std::result::Result<(), sqlx::Error> {
    let mut rest = chained;
    while !rest.is_empty() {
        let n = [64, 16, 4]
            .into_iter()
            .find(|n| *n <= rest.len())
            .unwrap_or(1);
        let (rows, after) = rest.split_at(n);
        let mut q = sqlx::QueryBuilder::<Db>::new(concat!(
            "INSERT INTO audit_events (seq, ",
            event_columns!(),
            ", prev_hash, hash) "
        ));
        q.push_values(rows, |mut b, c| {
            let e = &c.event;
            b.push_bind(e.seq)
                .push_bind(&e.at)
                .push_bind(&e.request_id)
                .push_bind(&e.principal)
                .push_bind(&e.token_id)
                .push_bind(&e.action)
                .push_bind(&e.namespace)
                .push_bind(&e.model)
                .push_bind(&e.resource)
                .push_bind(e.outcome)
                .push_bind(e.status)
                .push_bind(&e.client_addr)
                .push_bind(&e.detail)
                .push_bind(&c.prev_hash)
                .push_bind(&c.hash);
        });
        q.build().execute(&mut *conn).await?;
        rest = after;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The connection options of an `sqlite:` URL, as every connection uses them.
pub(super) fn options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|_| Error::invalid("invalid sqlite URL"))?
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

/// The pool of an `sqlite:` URL, its file (and folder) created if missing.
pub(super) async fn pool(url: &str) -> Result<SqlitePool> {
    let opts = options(url)?.create_if_missing(true);
    if let Some(dir) = opts.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(Error::internal)?;
    }
    Ok(super::pool_options()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// Writers of this process take turns here before `BEGIN IMMEDIATE`.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    pub async fn connect(url: &str, policy: &super::MigrationPolicy) -> Result<Self> {
        let pool = pool(url).await?;
        super::migrate::migrate_sqlite(&pool, policy).await?;
        Ok(Self {
            pool,
            writer: Default::default(),
        })
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front. A deferred transaction that
    /// reads and then writes can fail with SQLITE_BUSY when another writer commits
    /// in between, whatever the busy timeout; an immediate one just waits its turn.
    ///
    /// Writers of this process first queue on an async mutex: SQLite's busy handler
    /// waits by sleeping in steps of up to 100 ms, which put a 90 ms tail on
    /// concurrent promotions; the mutex hands over the moment the previous writer
    /// commits. The busy timeout still covers other processes on the same file.
    async fn begin_write(&self) -> Result<WriteTx<Db>> {
        let turn = self.writer.clone().lock_owned().await;
        Ok(WriteTx {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _turn: Some(turn),
        })
    }
}

#[async_trait::async_trait]
impl super::Health for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_usage(&self) -> super::PoolUsage {
        super::PoolUsage {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }
}

//! PostgreSQL backend.

use sqlx::postgres::PgPool;

use super::WriteTx;
use crate::error::Result;

/// This backend's driver, for the shared SQL in `sql/`.
type Db = sqlx::Postgres;
/// The `db.system` of this backend's trace spans.
const DB_SYSTEM: &str = "postgresql";
/// Access-log batches in flight: the second waits on the chain head's row lock
/// while the first commits.
const APPENDS_IN_FLIGHT: usize = 2;
/// Reads the trust epoch under a shared row lock: concurrent promotions do not
/// queue for each other, and a removal of trust (an update) waits for them.
const HOLD_TRUST: &str = "SELECT n FROM trust_epoch WHERE id = 1 FOR SHARE";
/// This backend's store, for the shared SQL in `sql/`.
type Store = PgStore;

#[macro_use]
#[path = "sql/mod.rs"]
mod sql;

/// Writes chained events and moves the head to (`seq`, `hash`) in one
/// statement, whatever the batch's size: the events travel as one array per
/// column.
async fn append_chained(
    conn: &mut sqlx::PgConnection,
    chained: &[crate::store::ChainedEvent],
    seq: i64,
    hash: &str,
) -> std::result::Result<(), sqlx::Error> {
    fn column<'a, T>(
        chained: &'a [crate::store::ChainedEvent],
        f: impl Fn(&'a crate::store::ChainedEvent) -> T,
    ) -> Vec<T> {
        chained.iter().map(f).collect()
    }
    let moved = sqlx::query(concat!(
        "WITH appended AS (INSERT INTO audit_events (seq, ",
        event_columns!(),
        ", prev_hash, hash) SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], \
         $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
         $10::text[], $11::int4[], $12::text[], $13::text[], $14::text[], $15::text[])) \
         UPDATE audit_head SET seq = $16, hash = $17 WHERE id = 1"
    ))
    .bind(column(chained, |c| c.event.seq))
    .bind(column(chained, |c| c.event.at.as_str()))
    .bind(column(chained, |c| c.event.request_id.as_str()))
    .bind(column(chained, |c| c.event.principal.as_deref()))
    .bind(column(chained, |c| c.event.token_id.as_deref()))
    .bind(column(chained, |c| c.event.action.as_str()))
    .bind(column(chained, |c| c.event.namespace.as_deref()))
    .bind(column(chained, |c| c.event.model.as_deref()))
    .bind(column(chained, |c| c.event.resource.as_str()))
    .bind(column(chained, |c| c.event.outcome.as_str()))
    .bind(column(chained, |c| c.event.status))
    .bind(column(chained, |c| c.event.client_addr.as_deref()))
    .bind(column(chained, |c| c.event.detail.as_str()))
    .bind(column(chained, |c| c.prev_hash.as_str()))
    .bind(column(chained, |c| c.hash.as_str()))
    .bind(seq)
    .bind(hash)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved != 1 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Migrates the database (see `migrate`), then opens the pool.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        policy: &super::MigrationPolicy,
    ) -> Result<Self> {
        super::migrate::migrate_postgres(url, policy).await?;
        let pool = super::pool_options()
            .max_connections(max_connections)
            // With the database gone, a request waits this long for a
            // connection, and its audit event as long again, before its 503
            // (under load, a connection is free in milliseconds).
            .acquire_timeout(std::time::Duration::from_millis(800))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Row locks taken by the statements themselves serialize writers; the
    /// default READ COMMITTED is enough for the patterns in `sql/`.
    async fn begin_write(&self) -> Result<WriteTx<Db>> {
        Ok(WriteTx {
            tx: self.pool.begin().await?,
            _turn: None,
        })
    }
}

#[async_trait::async_trait]
impl super::Health for PgStore {
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

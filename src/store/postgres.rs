//! PostgreSQL backend.

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::WriteTx;

use crate::error::Result;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(crate::error::Error::internal)?;
        Ok(Self { pool })
    }

    /// Row locks taken by the statements themselves serialize writers; the
    /// default READ COMMITTED is enough for the patterns in `sql.rs`.
    async fn begin_write(&self) -> Result<WriteTx<Postgres>> {
        Ok(WriteTx {
            tx: self.pool.begin().await?,
            _turn: None,
        })
    }
}

super::sql::impl_sql_store!(PgStore, Postgres);

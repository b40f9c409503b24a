//! The access log's streams' SQL.

use async_trait::async_trait;

use super::Store;
use super::audit::commit;
use crate::error::Result;
use crate::store::{AuditStreams, Pending};

#[async_trait]
impl AuditStreams for Store {
    #[tracing::instrument(level = "debug", name = "db.lease_stream", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn lease_stream(
        &self,
        destination: &str,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_streams (destination, position, updated_at) VALUES ($1, 0, $2) \
             ON CONFLICT (destination) DO NOTHING",
        )
        .bind(destination)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let position: Option<i64> = sqlx::query_scalar(
            "UPDATE audit_streams SET owner = $2, lease_until = $3 \
             WHERE destination = $1 AND (owner IS NULL OR owner = $2 OR lease_until < $4) \
             RETURNING position",
        )
        .bind(destination)
        .bind(owner)
        .bind(until)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        // The stream's bookkeeping: nothing to record.
        commit(tx, &Pending::system()).await?;
        Ok(position)
    }

    #[tracing::instrument(level = "debug", name = "db.advance_stream", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn advance_stream(&self, destination: &str, owner: &str, position: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE audit_streams SET position = $3, updated_at = $4 \
             WHERE destination = $1 AND owner = $2 AND position <= $3",
        )
        .bind(destination)
        .bind(owner)
        .bind(position)
        .bind(chrono::Utc::now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The stream's bookkeeping: nothing to record.
        commit(tx, &Pending::system()).await?;
        Ok(done == 1)
    }

    #[tracing::instrument(level = "debug", name = "db.release_stream", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn release_stream(&self, destination: &str, owner: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE audit_streams SET owner = NULL, lease_until = NULL \
             WHERE destination = $1 AND owner = $2",
        )
        .bind(destination)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        commit(tx, &Pending::system()).await?;
        Ok(())
    }
}

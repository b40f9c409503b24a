//! Download usage's SQL.

use async_trait::async_trait;

use super::Store;
use crate::error::Result;
use crate::names::PrincipalName;
use crate::store::{Usage, UsageCharge, UsageTotals};

/// One statement checks and counts. The current hour's row is the only one a
/// charge changes: a concurrent charge waits for its lock, and the update's
/// condition then reads that row as committed, plus the earlier hours, which no
/// one changes any more. A first charge in an hour checks the earlier hours
/// before inserting; when a concurrent first charge wins the insert, it becomes
/// an update and is checked as one.
const CHARGE: &str = "INSERT INTO download_usage (principal, hour, bytes, files) \
     SELECT $1, $2, $4, $5 WHERE \
       (SELECT COALESCE(SUM(bytes), 0) FROM download_usage \
          WHERE principal = $1 AND hour > $3 AND hour <> $2) + $4 <= $6 \
       AND (SELECT COALESCE(SUM(files), 0) FROM download_usage \
          WHERE principal = $1 AND hour > $3 AND hour <> $2) + $5 <= $7 \
     ON CONFLICT (principal, hour) DO UPDATE \
       SET bytes = download_usage.bytes + excluded.bytes, \
           files = download_usage.files + excluded.files \
       WHERE download_usage.bytes + excluded.bytes + \
         (SELECT COALESCE(SUM(o.bytes), 0) FROM download_usage o \
            WHERE o.principal = $1 AND o.hour > $3 AND o.hour <> $2) <= $6 \
       AND download_usage.files + excluded.files + \
         (SELECT COALESCE(SUM(o.files), 0) FROM download_usage o \
            WHERE o.principal = $1 AND o.hour > $3 AND o.hour <> $2) <= $7 \
     RETURNING files";

#[async_trait]
impl Usage for Store {
    #[tracing::instrument(level = "debug", name = "db.charge_download", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn charge_download(&self, principal: &PrincipalName, c: &UsageCharge) -> Result<bool> {
        let counted: Option<i64> = sqlx::query_scalar(CHARGE)
            .bind(principal)
            .bind(c.hour)
            .bind(c.since)
            .bind(c.bytes)
            .bind(c.files)
            .bind(c.max_bytes)
            .bind(c.max_files)
            .fetch_optional(&self.pool)
            .await?;
        // The principal's first download of the hour: forget the hours that
        // have left every window, so the table holds at most a day per principal.
        if counted == Some(c.files) {
            sqlx::query("DELETE FROM download_usage WHERE principal = $1 AND hour <= $2")
                .bind(principal)
                .bind(c.since)
                .execute(&self.pool)
                .await?;
        }
        Ok(counted.is_some())
    }

    #[tracing::instrument(level = "debug", name = "db.download_usage", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn download_usage(&self, principal: &PrincipalName, since: i64) -> Result<UsageTotals> {
        Ok(sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS bytes, \
             CAST(COALESCE(SUM(files), 0) AS BIGINT) AS files, MIN(hour) AS oldest_hour \
             FROM download_usage WHERE principal = $1 AND hour > $2",
        )
        .bind(principal)
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }
}

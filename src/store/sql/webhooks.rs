//! Subscriptions' SQL: subscriptions, their queues of deliveries and the attempts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::types::Json;
use uuid::Uuid;

use super::audit::commit;
use super::{Db, Store, WriteTx};
use crate::error::{Error, Result};
use crate::kinds::DeliveryState;
use crate::names::Namespace;
use crate::store::{
    AfterAttempt, AttemptRecord, DeliveryRecord, Pending, Queued, Subscriptions, WebhookChange,
    WebhookRecord,
};

/// A subscription's columns.
macro_rules! columns {
    () => {
        "id, namespace, url, event_types, description, sealed_secret, active, disabled_reason, \
         created_at, created_by, updated_at"
    };
}

/// A delivery's columns.
macro_rules! delivery_columns {
    () => {
        "id, webhook_id, seq, event_type, body, state, attempts, retry_since, next_attempt_at, \
         created_at"
    };
}

fn webhook_of(row: &<Db as sqlx::Database>::Row) -> Result<WebhookRecord> {
    let types: Json<Vec<String>> = row.try_get("event_types")?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        namespace: row.try_get("namespace")?,
        url: row.try_get("url")?,
        event_types: types.0,
        description: row.try_get("description")?,
        sealed_secret: row.try_get("sealed_secret")?,
        active: row.try_get("active")?,
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn delivery_of(row: &<Db as sqlx::Database>::Row) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        seq: row.try_get("seq")?,
        event_type: row.try_get("event_type")?,
        body: row.try_get("body")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        retry_since: row.try_get("retry_since")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn attempt_of(row: &<Db as sqlx::Database>::Row) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        n: row.try_get("n")?,
        at: row.try_get("at")?,
        status: row.try_get("status")?,
        duration_ms: row.try_get("duration_ms")?,
        error: row.try_get("error")?,
        excerpt: row.try_get("excerpt")?,
    })
}

async fn insert_delivery(tx: &mut WriteTx<Db>, d: &DeliveryRecord) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO webhook_deliveries (",
        delivery_columns!(),
        ", updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
    ))
    .bind(d.id)
    .bind(d.webhook_id)
    .bind(d.seq)
    .bind(&d.event_type)
    .bind(&d.body)
    .bind(d.state)
    .bind(d.attempts)
    .bind(d.retry_since)
    .bind(d.next_attempt_at)
    .bind(d.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_attempt(tx: &mut WriteTx<Db>, delivery: Uuid, a: &AttemptRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, n, at, status, duration_ms, error, excerpt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(delivery)
    .bind(a.n)
    .bind(a.at)
    .bind(a.status)
    .bind(a.duration_ms)
    .bind(&a.error)
    .bind(&a.excerpt)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Subscriptions for Store {
    #[tracing::instrument(level = "debug", name = "db.create_webhook", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_webhook(&self, w: &WebhookRecord, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let found = sqlx::query("UPDATE namespaces SET name = name WHERE name = $1")
            .bind(&w.namespace)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if found == 0 {
            return Err(Error::NotFound);
        }
        // It hears of what happens from now on: after the log's newest event.
        let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(concat!(
            "INSERT INTO webhooks (",
            columns!(),
            ", position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(w.id)
        .bind(&w.namespace)
        .bind(&w.url)
        .bind(Json(&w.event_types))
        .bind(&w.description)
        .bind(&w.sealed_secret)
        .bind(w.active)
        .bind(&w.disabled_reason)
        .bind(w.created_at)
        .bind(&w.created_by)
        .bind(w.updated_at)
        .bind(head)
        .execute(&mut *tx)
        .await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.webhooks", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn webhooks(&self, ns: &Namespace) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webhooks WHERE namespace = $1 ORDER BY created_at, id"
        ))
        .bind(ns)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_of).collect()
    }

    #[tracing::instrument(level = "debug", name = "db.webhook", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn webhook(&self, ns: &Namespace, id: Uuid) -> Result<WebhookRecord> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webhooks WHERE namespace = $1 AND id = $2"
        ))
        .bind(ns)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        webhook_of(&row)
    }

    #[tracing::instrument(level = "debug", name = "db.update_webhook", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn update_webhook(
        &self,
        ns: &Namespace,
        id: Uuid,
        change: &WebhookChange,
        at: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<WebhookRecord> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE webhooks SET updated_at = $3 WHERE namespace = $1 AND id = $2 RETURNING ",
            columns!()
        ))
        .bind(ns)
        .bind(id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        let mut w = webhook_of(&row)?;
        if let Some(url) = &change.url {
            w.url = url.clone();
        }
        if let Some(types) = &change.event_types {
            w.event_types = types.clone();
        }
        if let Some(d) = &change.description {
            w.description = d.clone();
        }
        if let Some(disabled) = &change.disabled {
            w.active = disabled.is_none();
            w.disabled_reason = disabled.clone();
        }
        w.updated_at = at;
        sqlx::query(
            "UPDATE webhooks SET url = $2, event_types = $3, description = $4, active = $5, \
             disabled_reason = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(&w.url)
        .bind(Json(&w.event_types))
        .bind(&w.description)
        .bind(w.active)
        .bind(&w.disabled_reason)
        .execute(&mut *tx)
        .await?;
        commit(tx, audit).await?;
        Ok(w)
    }

    #[tracing::instrument(level = "debug", name = "db.delete_webhook", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn delete_webhook(&self, ns: &Namespace, id: Uuid, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM webhooks WHERE namespace = $1 AND id = $2")
            .bind(ns)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE webhook_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.active_webhooks", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn active_webhooks(&self) -> Result<Vec<WebhookRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM webhooks WHERE active ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_of).collect()
    }

    #[tracing::instrument(level = "debug", name = "db.lease_webhooks", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn lease_webhooks(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(WebhookRecord, i64)>> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(concat!(
            "UPDATE webhooks SET owner = $1, lease_until = $2 \
             WHERE active AND (owner IS NULL OR owner = $1 OR lease_until < $3) \
             RETURNING position, ",
            columns!()
        ))
        .bind(owner)
        .bind(until)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        // The deliverer's bookkeeping: nothing to record.
        commit(tx, &Pending::system()).await?;
        rows.iter()
            .map(|r| Ok((webhook_of(r)?, r.try_get("position")?)))
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "db.enqueue", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn enqueue(&self, owner: &str, batch: &[Queued]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for q in batch {
            let held = sqlx::query(
                "UPDATE webhooks SET position = $3 \
                 WHERE id = $1 AND owner = $2 AND position <= $3",
            )
            .bind(q.webhook)
            .bind(owner)
            .bind(q.position)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if held == 1 {
                for d in &q.deliveries {
                    insert_delivery(&mut tx, d).await?;
                }
            }
        }
        commit(tx, &Pending::system()).await
    }

    #[tracing::instrument(level = "debug", name = "db.next_delivery", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn next_delivery(&self, webhook: Uuid) -> Result<Option<DeliveryRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE webhook_id = $1 AND state = $2 ORDER BY id LIMIT 1"
        ))
        .bind(webhook)
        .bind(DeliveryState::Pending)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery_of).transpose()
    }

    #[tracing::instrument(level = "debug", name = "db.record_attempt", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn record_attempt(
        &self,
        d: &DeliveryRecord,
        attempt: &AttemptRecord,
        after: &AfterAttempt,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (state, next) = match after {
            AfterAttempt::Delivered => (DeliveryState::Delivered, attempt.at),
            AfterAttempt::Retry(at) => (DeliveryState::Pending, *at),
            AfterAttempt::Failed(_) => (DeliveryState::Failed, attempt.at),
        };
        // Only a delivery still pending: one removed or redelivered
        // meanwhile keeps what it has.
        let n = sqlx::query(
            "UPDATE webhook_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, \
             updated_at = $5 WHERE id = $1 AND state = $6 AND attempts = $7",
        )
        .bind(d.id)
        .bind(state)
        .bind(attempt.n)
        .bind(next)
        .bind(attempt.at)
        .bind(DeliveryState::Pending)
        .bind(d.attempts)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(());
        }
        insert_attempt(&mut tx, d.id, attempt).await?;
        if let AfterAttempt::Failed(reason) = after {
            sqlx::query(
                "UPDATE webhooks SET active = $2, disabled_reason = $3, updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(d.webhook_id)
            .bind(false)
            .bind(reason)
            .bind(attempt.at)
            .execute(&mut *tx)
            .await?;
        }
        commit(tx, &Pending::system()).await
    }

    #[tracing::instrument(level = "debug", name = "db.record_test", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn record_test(
        &self,
        d: &DeliveryRecord,
        attempt: &AttemptRecord,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_delivery(&mut tx, d).await?;
        insert_attempt(&mut tx, d.id, attempt).await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.deliveries", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn deliveries(
        &self,
        webhook: Uuid,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<(DeliveryRecord, Vec<AttemptRecord>)>> {
        let rows = match before {
            Some(before) => {
                sqlx::query(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 \
                     ORDER BY id DESC LIMIT $3"
                ))
                .bind(webhook)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(webhook)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let d = delivery_of(row)?;
            let attempts = sqlx::query(
                "SELECT n, at, status, duration_ms, error, excerpt FROM webhook_attempts \
                 WHERE delivery_id = $1 ORDER BY n",
            )
            .bind(d.id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(attempt_of)
            .collect::<Result<Vec<_>>>()?;
            out.push((d, attempts));
        }
        Ok(out)
    }

    #[tracing::instrument(level = "debug", name = "db.redeliver", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn redeliver(
        &self,
        webhook: Uuid,
        delivery: Uuid,
        now: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<DeliveryRecord> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE webhook_deliveries SET state = $3, retry_since = $4, next_attempt_at = $4, \
             updated_at = $4 WHERE webhook_id = $1 AND id = $2 RETURNING ",
            delivery_columns!()
        ))
        .bind(webhook)
        .bind(delivery)
        .bind(DeliveryState::Pending)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        let d = delivery_of(&row)?;
        commit(tx, audit).await?;
        Ok(d)
    }

    #[tracing::instrument(level = "debug", name = "db.release_webhooks", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn release_webhooks(&self, owner: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE webhooks SET owner = NULL, lease_until = NULL WHERE owner = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        commit(tx, &Pending::system()).await
    }
}

//! The access log's SQL, and `commit`: the one way a write transaction ends.

use async_trait::async_trait;

use super::{Db, Store};
use crate::error::{Error, Result};
use crate::store::{
    AuditEvent, AuditFilter, AuditHead, AuditLog, ChainedEvent, Order, Pending, WriteTx, timestamp,
};

/// The columns an event is recorded with, in the inbox and in the chain.
macro_rules! event_columns {
    () => {
        "at, request_id, principal, token_id, action, namespace, model, resource, \
         outcome, status, client_addr, detail"
    };
}

macro_rules! select {
    () => {
        concat!(
            "SELECT seq, ",
            event_columns!(),
            ", prev_hash, hash FROM audit_events"
        )
    };
}

/// Commits a write with the request's audit event recorded in the same
/// transaction: the change and its record commit together or not at all. The
/// event goes to the inbox, which no other writer waits for (writes that do not
/// need each other do not queue for the chain's head); the next `chain`, on any
/// replica, moves it into the chain.
/// Up to `limit` events after `after`, in chain order. The statement bounds
/// the sequence on both sides, so every planner reads the primary key's
/// range: with only `seq > $1 ... LIMIT`, SQLite's planner, given ANALYZE's
/// statistics (STAT4) and a start in the newest tenth of a large log, chose
/// another index and sorted every event above the start (76 ms for one
/// event at 10M). Events are gap-free from the oldest one kept (archiving
/// drops a prefix), so the range starts there at the earliest.
pub(super) async fn events_after(
    conn: &mut <Db as sqlx::Database>::Connection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChainedEvent>> {
    let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit_events")
        .fetch_one(&mut *conn)
        .await?;
    let Some(oldest) = oldest else {
        return Ok(Vec::new());
    };
    let after = after.max(oldest - 1);
    Ok(sqlx::query_as(concat!(
        select!(),
        " WHERE seq > $1 AND seq <= $2 ORDER BY seq"
    ))
    .bind(after)
    .bind(after.saturating_add(limit.max(0)))
    .fetch_all(&mut *conn)
    .await?)
}

pub(super) async fn commit(mut tx: WriteTx<Db>, pending: &Pending) -> Result<()> {
    if let Some(e) = pending.take(chrono::Utc::now()) {
        sqlx::query(concat!(
            "INSERT INTO audit_inbox (",
            event_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&e.at)
        .bind(&e.request_id)
        .bind(&e.principal)
        .bind(&e.token_id)
        .bind(&e.action)
        .bind(&e.namespace)
        .bind(&e.model)
        .bind(&e.resource)
        .bind(e.outcome)
        .bind(e.status)
        .bind(&e.client_addr)
        .bind(&e.detail)
        .execute(&mut *tx)
        .await
        .map_err(|err| Error::Unavailable(err.into()))?;
    }
    tx.tx.commit().await?;
    pending.mark_committed();
    Ok(())
}

/// Appends the inbox's events (with `inbox`; in the order they were recorded),
/// then `events`, to the chain. The head row's update is the lock that
/// serializes appenders (across replicas too), so sequence numbers are gap-free
/// and every hash covers the previous one; an inbox event is taken by exactly
/// one appender, the one whose delete removed it.
async fn chain(
    conn: &mut <Db as sqlx::Database>::Connection,
    events: Vec<AuditEvent>,
    inbox: bool,
) -> std::result::Result<(), sqlx::Error> {
    let (mut seq, mut prev): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *conn)
            .await?;
    let mut waiting: Vec<AuditEvent> = if inbox {
        sqlx::query_as(concat!(
            "DELETE FROM audit_inbox RETURNING id AS seq, ",
            event_columns!()
        ))
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    waiting.sort_by_key(|e| e.seq);
    waiting.extend(events);
    if waiting.is_empty() {
        return Ok(());
    }
    let mut chained = Vec::with_capacity(waiting.len());
    for mut event in waiting {
        seq += 1;
        event.seq = seq;
        let hash = event.chain_hash(&prev);
        chained.push(ChainedEvent {
            event,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    super::append_chained(conn, &chained, seq, &prev).await
}

impl Store {
    /// [`chain`] in a write transaction of its own.
    async fn chain_in_tx(&self, events: Vec<AuditEvent>, inbox: bool) -> Result<()> {
        let mut tx = self.begin_write().await?;
        chain(&mut tx, events, inbox)
            .await
            .map_err(|err| Error::Unavailable(err.into()))?;
        // These are requests' events themselves: nothing else to record.
        commit(tx, &Pending::system()).await
    }
}

#[async_trait]
impl AuditLog for Store {
    fn appends_in_flight(&self) -> usize {
        super::APPENDS_IN_FLIGHT
    }

    #[tracing::instrument(level = "debug", name = "db.append_audit", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()> {
        if events.is_empty() {
            let waiting: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_inbox)")
                .fetch_one(&self.pool)
                .await?;
            if !waiting {
                return Ok(());
            }
        }
        self.chain_in_tx(events, true).await
    }

    #[tracing::instrument(level = "debug", name = "db.append_only", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn append_only(&self, events: Vec<AuditEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.chain_in_tx(events, false).await
    }

    #[tracing::instrument(level = "debug", name = "db.prune_audit", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn prune_audit(&self, old_anchor: i64, through: i64, hash: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE audit_head SET anchor_seq = $2, anchor_hash = $3 \
             WHERE id = 1 AND anchor_seq = $1",
        )
        .bind(old_anchor)
        .bind(through)
        .bind(hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::Conflict(
                "another archive run moved the anchor".into(),
            ));
        }
        sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
            .bind(through)
            .execute(&mut *tx)
            .await?;
        // Retention is no request: nothing is recorded with it.
        commit(tx, &Pending::system()).await
    }

    #[tracing::instrument(level = "debug", name = "db.audit_head", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn audit_head(&self) -> Result<AuditHead> {
        Ok(
            sqlx::query_as(
                "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1",
            )
            .fetch_one(&self.pool)
            .await?,
        )
    }

    #[tracing::instrument(level = "debug", name = "db.audit_after", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<ChainedEvent>> {
        let mut conn = self.pool.acquire().await?;
        events_after(&mut conn, after, limit).await
    }

    #[tracing::instrument(level = "debug", name = "db.query_audit", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn query_audit(
        &self,
        f: &AuditFilter,
        from: i64,
        order: Order,
        limit: i64,
    ) -> Result<Vec<ChainedEvent>> {
        // Only the filters given appear in the statement, so the planner can use
        // the index of the most selective one; values are always bound.
        let conds: [(&str, Option<String>); 8] = [
            // The log stores each as text, as the event was hashed.
            (
                "principal = ",
                f.principal.as_ref().map(ToString::to_string),
            ),
            ("action = ", f.action.as_ref().map(ToString::to_string)),
            (
                "namespace = ",
                f.namespace.as_ref().map(ToString::to_string),
            ),
            ("model = ", f.model.as_ref().map(ToString::to_string)),
            ("outcome = ", f.outcome.map(|o| o.as_str().to_owned())),
            ("at >= ", f.since.map(timestamp)),
            ("at < ", f.until.map(timestamp)),
            (
                "request_id = ",
                f.request_id.as_ref().map(ToString::to_string),
            ),
        ];
        let (bound, direction) = match order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        let mut sql = format!("{} WHERE seq {bound} $1", select!());
        let mut n = 1;
        for (cond, v) in &conds {
            if v.is_some() {
                n += 1;
                sql.push_str(&format!(" AND {cond}${n}"));
            }
        }
        sql.push_str(&format!(" ORDER BY seq {direction} LIMIT ${}", n + 1));
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from);
        for (_, v) in conds {
            if let Some(v) = v {
                q = q.bind(v);
            }
        }
        Ok(q.bind(limit).fetch_all(&self.pool).await?)
    }
}

//! Lineage walks' and quarantines' SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;
use super::audit::commit;
use super::models::version_columns;
use crate::error::{Error, Result};
use std::collections::HashMap;

use crate::kinds::{BindingScope, QuarantineKind, QuarantineTarget};
use crate::names::PrincipalName;
use crate::store::{Direction, Lineage, LineageHit, LineageSeed, Pending, QuarantineRecord};

/// A recursive walk from `$seed` through `version_parents` by `$step`.
macro_rules! walk {
    ($seed:literal, $step:literal) => {
        // Each version once, at its nearest depth: the closure is grouped
        // once, not searched again for every version it reached.
        concat!(
            "WITH RECURSIVE closure(id, depth) AS (",
            $seed,
            " UNION ALL ",
            $step,
            "), nearest(id, depth) AS (SELECT id, MIN(depth) FROM closure GROUP BY id)",
            " SELECT ",
            version_columns!(),
            ", n.depth AS depth",
            " FROM nearest n JOIN versions v ON v.id = n.id JOIN models m ON m.id = v.model_id",
            " ORDER BY depth, m.namespace, m.name, v.version"
        )
    };
}

macro_rules! quarantine_select {
    () => {
        "SELECT id, kind, value, reason, created_at, created_by, lifted_at, lifted_by, \
         lift_reason FROM quarantines"
    };
}

/// The ids of the quarantines in force whose scope covers version `$1`'s
/// namespace (or is global, `$5`) and that name the version itself or an
/// ancestor (`$2`), the commit of one (`$3`), or a dataset one was trained on
/// (`$4`).
macro_rules! holding {
    () => {
        "WITH RECURSIVE a(id) AS ( \
           SELECT id FROM versions WHERE id = $1 \
           UNION SELECT vp.parent_id FROM version_parents vp JOIN a ON vp.version_id = a.id) \
         SELECT DISTINCT q.id FROM quarantines q JOIN versions v ON ( \
             (q.kind = $2 AND q.version_id = v.id) \
             OR (q.kind = $3 AND q.value = v.code_commit) \
             OR (q.kind = $4 AND q.value IN \
               (SELECT d.sha256 FROM version_datasets d WHERE d.version_id = v.id))) \
         WHERE v.id IN (SELECT id FROM a) AND q.lifted_at IS NULL \
           AND EXISTS (SELECT 1 FROM quarantine_scopes s WHERE s.quarantine_id = q.id \
             AND (s.namespace = $5 OR s.namespace = \
               (SELECT m.namespace FROM versions v0 JOIN models m ON m.id = v0.model_id \
                WHERE v0.id = $1)))"
    };
}

/// A quarantine row as stored: its target as kind and value.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: QuarantineKind,
    value: String,
    reason: String,
    created_at: DateTime<Utc>,
    created_by: PrincipalName,
    lifted_at: Option<DateTime<Utc>>,
    lifted_by: Option<PrincipalName>,
    lift_reason: Option<String>,
}

impl Row {
    fn into_record(self, scope: Vec<BindingScope>) -> Result<QuarantineRecord> {
        let r = self;
        Ok(QuarantineRecord {
            id: r.id,
            target: QuarantineTarget::parse(r.kind, &r.value).map_err(Error::internal)?,
            scope,
            reason: r.reason,
            created_at: r.created_at,
            created_by: r.created_by,
            lifted_at: r.lifted_at,
            lifted_by: r.lifted_by,
            lift_reason: r.lift_reason,
        })
    }
}

/// Groups `(quarantine, namespace)` rows by quarantine.
fn by_quarantine(rows: Vec<(Uuid, BindingScope)>) -> HashMap<Uuid, Vec<BindingScope>> {
    let mut out: HashMap<Uuid, Vec<BindingScope>> = HashMap::new();
    for (id, scope) in rows {
        out.entry(id).or_default().push(scope);
    }
    out
}

#[async_trait]
impl Lineage for Store {
    #[tracing::instrument(level = "debug", name = "db.lineage", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn lineage(&self, seed: &LineageSeed, dir: Direction) -> Result<Vec<LineageHit>> {
        use Direction::*;
        use LineageSeed::*;
        let sql = match (seed, dir) {
            (Dataset(_), Descendants) => walk!(
                "SELECT version_id, CAST(0 AS BIGINT) FROM version_datasets WHERE sha256 = $1",
                "SELECT vp.version_id, c.depth + 1 FROM version_parents vp \
                 JOIN closure c ON vp.parent_id = c.id"
            ),
            (Commit(_), Descendants) => walk!(
                "SELECT id, CAST(0 AS BIGINT) FROM versions WHERE code_commit = $1",
                "SELECT vp.version_id, c.depth + 1 FROM version_parents vp \
                 JOIN closure c ON vp.parent_id = c.id"
            ),
            (Version(_), Descendants) => walk!(
                "SELECT id, CAST(0 AS BIGINT) FROM versions WHERE id = $1",
                "SELECT vp.version_id, c.depth + 1 FROM version_parents vp \
                 JOIN closure c ON vp.parent_id = c.id"
            ),
            (Version(_), Ancestors) => walk!(
                "SELECT id, CAST(0 AS BIGINT) FROM versions WHERE id = $1",
                "SELECT vp.parent_id, c.depth + 1 FROM version_parents vp \
                 JOIN closure c ON vp.version_id = c.id"
            ),
            (_, Ancestors) => return Err(Error::invalid("ancestors start from a version")),
        };
        let q = sqlx::query_as(sql);
        let q = match seed {
            Dataset(d) => q.bind(*d),
            Commit(c) => q.bind(c.clone()),
            Version(id) => q.bind(*id),
        };
        Ok(q.fetch_all(&self.pool).await?)
    }

    #[tracing::instrument(level = "debug", name = "db.is_quarantined", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn is_quarantined(&self, version_id: Uuid) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar(concat!("SELECT COUNT(*) FROM (", holding!(), " LIMIT 1) h"))
                .bind(version_id)
                .bind(QuarantineKind::Version)
                .bind(QuarantineKind::Commit)
                .bind(QuarantineKind::Dataset)
                .bind(BindingScope::Global)
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }

    #[tracing::instrument(level = "debug", name = "db.quarantines_holding", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn quarantines_holding(&self, version_id: Uuid) -> Result<Vec<QuarantineRecord>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(holding!())
            .bind(version_id)
            .bind(QuarantineKind::Version)
            .bind(QuarantineKind::Commit)
            .bind(QuarantineKind::Dataset)
            .bind(BindingScope::Global)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_quarantine(id).await?);
        }
        out.sort_by_key(|q| (q.created_at, q.id));
        Ok(out)
    }

    #[tracing::instrument(level = "debug", name = "db.create_quarantine", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_quarantine(
        &self,
        q: &QuarantineRecord,
        version_id: Option<Uuid>,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        super::epochs::change_trust(&mut tx).await?;
        sqlx::query(
            "INSERT INTO quarantines (id, kind, value, reason, created_at, created_by, \
             version_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(q.id)
        .bind(q.target.kind())
        .bind(q.target.value())
        .bind(&q.reason)
        .bind(q.created_at)
        .bind(&q.created_by)
        .bind(version_id)
        .execute(&mut *tx)
        .await?;
        for scope in &q.scope {
            sqlx::query(
                "INSERT INTO quarantine_scopes (quarantine_id, namespace) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(q.id)
            .bind(scope)
            .execute(&mut *tx)
            .await?;
        }
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_quarantine", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_quarantine(&self, id: Uuid) -> Result<QuarantineRecord> {
        let row: Row = sqlx::query_as(concat!(quarantine_select!(), " WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let scope = sqlx::query_scalar(
            "SELECT namespace FROM quarantine_scopes WHERE quarantine_id = $1 ORDER BY namespace",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        row.into_record(scope)
    }

    #[tracing::instrument(level = "debug", name = "db.list_quarantines", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn list_quarantines(&self, after: Uuid, limit: i64) -> Result<Vec<QuarantineRecord>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            quarantine_select!(),
            " WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        // The same page's scopes, in one statement.
        let mut scopes = by_quarantine(
            sqlx::query_as(
                "SELECT quarantine_id, namespace FROM quarantine_scopes WHERE quarantine_id IN \
                 (SELECT id FROM quarantines WHERE id > $1 ORDER BY id LIMIT $2) \
                 ORDER BY namespace",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?,
        );
        rows.into_iter()
            .map(|r| {
                let scope = scopes.remove(&r.id).unwrap_or_default();
                r.into_record(scope)
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "db.lift_quarantine", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn lift_quarantine(
        &self,
        id: Uuid,
        by: &PrincipalName,
        reason: &str,
        at: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Lifting gives trust back: what processes concluded about quarantines
        // at the old epoch no longer holds.
        super::epochs::change_trust(&mut tx).await?;
        let n = sqlx::query(
            "UPDATE quarantines SET lifted_at = $2, lifted_by = $3, lift_reason = $4 \
             WHERE id = $1 AND lifted_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .bind(by)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            self.get_quarantine(id).await?;
            return Err(Error::Conflict("the quarantine is already lifted".into()));
        }
        commit(tx, audit).await
    }
}

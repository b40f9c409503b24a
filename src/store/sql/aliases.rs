//! Aliases' SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;
use super::audit::commit;
use crate::error::{Error, Result};
use crate::names::{AliasName, ModelRef, VersionNumber};
use crate::store::{AliasMove, Aliases, NewAliasMove, Pending};

#[async_trait]
impl Aliases for Store {
    #[tracing::instrument(level = "debug", name = "db.move_alias", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn move_alias(
        &self,
        mv: &NewAliasMove<'_>,
        audit: &Pending,
    ) -> Result<Option<VersionNumber>> {
        let mut tx = self.begin_write().await?;
        let at = match mv.judged_at_epoch {
            Some(epoch) => super::epochs::hold_trust(&mut tx, epoch).await?,
            None => chrono::Utc::now(),
        };
        let model_id: Uuid =
            sqlx::query_scalar("SELECT id FROM models WHERE namespace = $1 AND name = $2")
                .bind(&mv.model.namespace)
                .bind(&mv.model.name)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO aliases (model_id, alias, version, updated_at, updated_by) \
             VALUES ($1, $2, NULL, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(model_id)
        .bind(mv.alias)
        .bind(at)
        .bind(mv.principal)
        .execute(&mut *tx)
        .await?;
        // The update takes the alias row's lock: concurrent moves of one alias
        // queue here, and each records the version the previous one set.
        let previous: Option<VersionNumber> = sqlx::query_scalar(
            "UPDATE aliases SET updated_at = $3, updated_by = $4 \
             WHERE model_id = $1 AND alias = $2 RETURNING version",
        )
        .bind(model_id)
        .bind(mv.alias)
        .bind(at)
        .bind(mv.principal)
        .fetch_one(&mut *tx)
        .await?;
        if mv.version.is_none() && previous.is_none() {
            return Err(Error::NotFound);
        }
        sqlx::query("UPDATE aliases SET version = $3 WHERE model_id = $1 AND alias = $2")
            .bind(model_id)
            .bind(mv.alias)
            .bind(mv.version)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO alias_history (model_id, alias, version, previous_version, \
             principal, reason, at, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(model_id)
        .bind(mv.alias)
        .bind(mv.version)
        .bind(previous)
        .bind(mv.principal)
        .bind(mv.reason)
        .bind(at)
        .bind(mv.record.map(|sign| sign(previous, at)))
        .execute(&mut *tx)
        .await?;
        let audit = audit.with_detail("previous_version", serde_json::json!(previous));
        commit(tx, &audit).await?;
        Ok(previous)
    }

    #[tracing::instrument(level = "debug", name = "db.aliases_of", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn aliases_of(&self, model: &ModelRef) -> Result<Vec<(AliasName, VersionNumber)>> {
        Ok(sqlx::query_as(
            "SELECT a.alias, a.version FROM aliases a JOIN models m ON m.id = a.model_id \
             WHERE m.namespace = $1 AND m.name = $2 AND a.version IS NOT NULL \
             ORDER BY a.alias",
        )
        .bind(&model.namespace)
        .bind(&model.name)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.alias_history", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn left_since(
        &self,
        model: &ModelRef,
        version: VersionNumber,
        since: DateTime<Utc>,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM alias_history h JOIN models m ON m.id = h.model_id \
             WHERE m.namespace = $1 AND m.name = $2 AND h.previous_version = $3 AND h.at >= $4",
        )
        .bind(&model.namespace)
        .bind(&model.name)
        .bind(version)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn alias_history(
        &self,
        model: &ModelRef,
        alias: Option<&AliasName>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AliasMove>> {
        Ok(sqlx::query_as(
            "SELECT h.id, h.alias, h.version, h.previous_version, h.principal, h.reason, h.at, \
             h.record \
             FROM alias_history h JOIN models m ON m.id = h.model_id \
             WHERE m.namespace = $1 AND m.name = $2 AND (h.alias = $3 OR $3 = '') AND h.id < $4 \
             ORDER BY h.id DESC LIMIT $5",
        )
        .bind(&model.namespace)
        .bind(&model.name)
        .bind(alias.map_or("", AliasName::as_str))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

//! Namespaces' SQL.

use async_trait::async_trait;
use serde_json::Value;

use super::Store;
use super::audit::commit;
use crate::error::{Error, Result};
use crate::names::Namespace;
use crate::store::{NamespaceRecord, Namespaces, Pending, Visibility, map_constraint};

/// `(all, principal)` for the `($n OR … IN role_bindings of $m)` filter.
pub(super) fn visibility(vis: &Visibility) -> (bool, &str) {
    match vis {
        Visibility::All => (true, ""),
        Visibility::MemberOf(p) => (false, p.as_str()),
    }
}

#[async_trait]
impl Namespaces for Store {
    #[tracing::instrument(level = "debug", name = "db.create_namespace", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_namespace(&self, ns: &NamespaceRecord, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO namespaces (name, description, created_at, created_by) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&ns.name)
        .bind(&ns.description)
        .bind(ns.created_at)
        .bind(&ns.created_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_constraint(e, "the namespace exists"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_namespace", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_namespace(&self, name: &Namespace) -> Result<NamespaceRecord> {
        Ok(sqlx::query_as(
            "SELECT name, description, created_at, created_by FROM namespaces WHERE name = $1",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.list_namespaces", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn list_namespaces(
        &self,
        vis: &Visibility,
        after: &str,
        limit: i64,
    ) -> Result<Vec<NamespaceRecord>> {
        let (all, principal) = visibility(vis);
        Ok(sqlx::query_as(
            "SELECT name, description, created_at, created_by FROM namespaces \
             WHERE name > $1 AND ($2 OR name IN \
               (SELECT namespace FROM role_bindings WHERE principal = $3)) \
             ORDER BY name LIMIT $4",
        )
        .bind(after)
        .bind(all)
        .bind(principal)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.get_policy", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_policy(&self, namespace: &Namespace) -> Result<Value> {
        let p: sqlx::types::Json<Value> =
            sqlx::query_scalar("SELECT policy FROM namespaces WHERE name = $1")
                .bind(namespace)
                .fetch_one(&self.pool)
                .await?;
        Ok(p.0)
    }

    #[tracing::instrument(level = "debug", name = "db.set_policy", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn set_policy(
        &self,
        namespace: &Namespace,
        policy: &Value,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // A stricter policy removes trust (more signatures, more lineage).
        super::epochs::change_trust(&mut tx).await?;
        let n = sqlx::query("UPDATE namespaces SET policy = $2 WHERE name = $1")
            .bind(namespace)
            .bind(sqlx::types::Json(policy))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        commit(tx, audit).await
    }
}

//! Role bindings' SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Store;
use super::audit::commit;
use crate::error::{Error, Result};
use crate::kinds::{BindingScope, Role};
use crate::names::PrincipalName;
use crate::store::{Bindings, Pending, RoleBinding};

#[async_trait]
impl Bindings for Store {
    #[tracing::instrument(level = "debug", name = "db.roles_of", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn roles_of(&self, principal: &PrincipalName) -> Result<Vec<RoleBinding>> {
        Ok(sqlx::query_as(
            "SELECT principal, namespace, role FROM role_bindings WHERE principal = $1",
        )
        .bind(principal)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.set_roles", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn set_roles(
        &self,
        principal: &PrincipalName,
        scope: &BindingScope,
        roles: &[Role],
        at: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        super::epochs::change_access(&mut tx).await?;
        sqlx::query("DELETE FROM role_bindings WHERE principal = $1 AND namespace = $2")
            .bind(principal)
            .bind(scope)
            .execute(&mut *tx)
            .await?;
        for role in roles {
            sqlx::query(
                "INSERT INTO role_bindings (principal, namespace, role, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(principal)
            .bind(scope)
            .bind(role)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.members", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn members(
        &self,
        scope: &BindingScope,
        after: &str,
        limit: i64,
    ) -> Result<Vec<RoleBinding>> {
        // Page by principal: the first `limit` principals, with all their roles.
        Ok(sqlx::query_as(
            "SELECT principal, namespace, role FROM role_bindings \
             WHERE namespace = $1 AND principal IN \
               (SELECT DISTINCT principal FROM role_bindings \
                WHERE namespace = $1 AND principal > $2 ORDER BY principal LIMIT $3) \
             ORDER BY principal, role",
        )
        .bind(scope)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.remove_member", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn remove_member(
        &self,
        scope: &BindingScope,
        principal: &PrincipalName,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        super::epochs::change_access(&mut tx).await?;
        let n = sqlx::query("DELETE FROM role_bindings WHERE principal = $1 AND namespace = $2")
            .bind(principal)
            .bind(scope)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        commit(tx, audit).await
    }
}

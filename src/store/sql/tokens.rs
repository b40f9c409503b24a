//! Tokens' SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::commit;
use super::epochs::change_access;
use super::{Db, Store};
use crate::error::Result;
use crate::kinds::{BindingScope, Role};
use crate::names::PrincipalName;
use crate::store::{
    CredentialRecord, Pending, RegistryCredential, RegistryTokenRecord, RoleBinding, TokenRecord,
    Tokens, map_constraint,
};

/// A token's columns (`t` tokens).
macro_rules! columns {
    () => {
        "t.id, t.principal, t.description, t.created_at, t.expires_at, t.revoked_at, \
         t.last_used_at, t.parent_id, t.revoked_with, t.console"
    };
}

macro_rules! select {
    () => {
        concat!("SELECT ", columns!(), " FROM tokens t")
    };
}

async fn insert(
    conn: &mut <Db as sqlx::Database>::Connection,
    t: &TokenRecord,
    secret_hash: &[u8],
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tokens (id, principal, secret_hash, description, created_at, expires_at, \
         parent_id, console) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(t.id)
    .bind(&t.principal)
    .bind(secret_hash)
    .bind(&t.description)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.parent_id)
    .bind(t.console)
    .execute(conn)
    .await?;
    Ok(())
}

/// `d(id)`: every token minted from `$1`, directly or through others.
macro_rules! descendants {
    () => {
        "WITH RECURSIVE d(id) AS (SELECT id FROM tokens WHERE parent_id = $1 \
         UNION SELECT t.id FROM tokens t JOIN d ON t.parent_id = d.id)"
    };
}

#[async_trait]
impl Tokens for Store {
    #[tracing::instrument(level = "debug", name = "db.credential", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn credential(&self, hash: &[u8]) -> Result<Option<CredentialRecord>> {
        // One row per binding (one with no binding when there is none), each
        // with the access epoch of the same snapshot.
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", b.namespace AS bound_scope, b.role AS bound_role, e.n AS access_epoch \
             FROM tokens t CROSS JOIN access_epoch e \
             LEFT JOIN role_bindings b ON b.principal = t.principal \
             WHERE t.secret_hash = $1 AND e.id = 1"
        ))
        .bind(hash)
        .fetch_all(&self.pool)
        .await?;
        credential_of(&rows)
    }

    #[tracing::instrument(level = "debug", name = "db.bootstrap_admin", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn bootstrap_admin(&self, t: &TokenRecord, secret_hash: &[u8]) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // Replicas started at once each bootstrap: the access epoch's row lock
        // makes them take turns, and each counts the tokens after the one before
        // it committed (a bootstrap that finds tokens rolls its bump back).
        change_access(&mut tx).await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(false);
        }
        insert(&mut tx, t, secret_hash).await?;
        sqlx::query(
            "INSERT INTO role_bindings (principal, namespace, role, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&t.principal)
        .bind(BindingScope::Global)
        .bind(Role::Admin)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?;
        // Start-up, not a request: nothing to record with it.
        commit(tx, &Pending::system()).await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", name = "db.touch_token", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn touch_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "db.create_token", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_token(
        &self,
        t: &TokenRecord,
        secret_hash: &[u8],
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert(&mut tx, t, secret_hash)
            .await
            .map_err(|e| map_constraint(e, "token exists"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_token", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_token(&self, id: Uuid) -> Result<TokenRecord> {
        let sql = concat!(select!(), " WHERE id = $1");
        Ok(sqlx::query_as(sql).bind(id).fetch_one(&self.pool).await?)
    }

    #[tracing::instrument(level = "debug", name = "db.list_tokens", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn list_tokens(
        &self,
        principal: Option<&PrincipalName>,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<TokenRecord>> {
        let sql = concat!(
            select!(),
            " WHERE id > $1 AND (principal = $2 OR $2 = '') ORDER BY id LIMIT $3"
        );
        Ok(sqlx::query_as(sql)
            .bind(after)
            .bind(principal.map(PrincipalName::as_str).unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.token_descendants", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn token_descendants(&self, id: Uuid) -> Result<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar(concat!(descendants!(), " SELECT id FROM d ORDER BY id"))
                .bind(id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    #[tracing::instrument(level = "debug", name = "db.revoke_token", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn revoke_token(&self, id: Uuid, at: DateTime<Utc>, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        change_access(&mut tx).await?;
        sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(concat!(
            descendants!(),
            " UPDATE tokens SET revoked_at = $2, revoked_with = $1 \
             WHERE id IN (SELECT id FROM d) AND revoked_at IS NULL"
        ))
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.create_registry_token", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_registry_token(
        &self,
        t: &RegistryTokenRecord,
        secret_hash: &[u8],
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM registry_tokens WHERE expires_at < $1")
            .bind(t.created_at - chrono::Duration::hours(1))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO registry_tokens (id, secret_hash, parent_id, repositories, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id)
        .bind(secret_hash)
        .bind(t.parent_id)
        .bind(sqlx::types::Json(&t.repositories))
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_constraint(e, "token exists"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.registry_credential", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn registry_credential(&self, hash: &[u8]) -> Result<Option<RegistryCredential>> {
        use sqlx::Row;
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", b.namespace AS bound_scope, b.role AS bound_role, e.n AS access_epoch, \
             r.id AS registry_id, r.repositories AS registry_repositories, \
             r.created_at AS registry_created_at, r.expires_at AS registry_expires_at \
             FROM registry_tokens r JOIN tokens t ON t.id = r.parent_id \
             CROSS JOIN access_epoch e \
             LEFT JOIN role_bindings b ON b.principal = t.principal \
             WHERE r.secret_hash = $1 AND e.id = 1"
        ))
        .bind(hash)
        .fetch_all(&self.pool)
        .await?;
        let (Some(first), Some(parent)) = (rows.first(), credential_of(&rows)?) else {
            return Ok(None);
        };
        let repositories: sqlx::types::Json<Vec<String>> =
            first.try_get("registry_repositories")?;
        Ok(Some(RegistryCredential {
            registry: RegistryTokenRecord {
                id: first.try_get("registry_id")?,
                parent_id: parent.token.id,
                repositories: repositories.0,
                created_at: first.try_get("registry_created_at")?,
                expires_at: first.try_get("registry_expires_at")?,
            },
            parent,
        }))
    }
}

/// A token's credential from its rows: one per role binding of its principal
/// (one with no binding when there is none), each with the access epoch.
fn credential_of(rows: &[<Db as sqlx::Database>::Row]) -> Result<Option<CredentialRecord>> {
    use sqlx::{FromRow, Row};
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let token = TokenRecord::from_row(first)?;
    let access_epoch = first.try_get("access_epoch")?;
    let mut roles = Vec::with_capacity(rows.len());
    for row in rows {
        let scope: Option<BindingScope> = row.try_get("bound_scope")?;
        let role: Option<Role> = row.try_get("bound_role")?;
        if let (Some(scope), Some(role)) = (scope, role) {
            roles.push(RoleBinding {
                principal: token.principal.clone(),
                scope,
                role,
            });
        }
    }
    Ok(Some(CredentialRecord {
        token,
        roles,
        access_epoch,
    }))
}

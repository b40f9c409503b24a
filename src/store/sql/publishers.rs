//! Trusted publishers' SQL, with their tokens and the identity tokens
//! exchanged.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::types::Json;

use super::audit::commit;
use super::{Db, Store};
use crate::error::{Error, Result};
use crate::names::{Namespace, PublisherName};
use crate::store::{Exchange, Pending, PublisherRecord, PublisherTokenRecord, Publishers};

/// A publisher's columns (`p` trusted_publishers).
macro_rules! columns {
    () => {
        "p.id, p.namespace, p.name, p.issuer, p.claims, p.roles, p.bind_commit, p.created_at, \
         p.created_by"
    };
}

fn publisher_of(row: &<Db as sqlx::Database>::Row) -> Result<PublisherRecord> {
    let claims: Json<_> = row.try_get("claims")?;
    let roles: Json<_> = row.try_get("roles")?;
    Ok(PublisherRecord {
        id: row.try_get("id")?,
        namespace: row.try_get("namespace")?,
        name: row.try_get("name")?,
        issuer: row.try_get("issuer")?,
        claims: claims.0,
        roles: roles.0,
        bind_commit: row.try_get("bind_commit")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

#[async_trait]
impl Publishers for Store {
    #[tracing::instrument(level = "debug", name = "db.put_publisher", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn put_publisher(&self, p: &PublisherRecord, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // The namespace's row lock: changes to its publishers take turns.
        let found = sqlx::query("UPDATE namespaces SET name = name WHERE name = $1")
            .bind(&p.namespace)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if found == 0 {
            return Err(Error::NotFound);
        }
        sqlx::query("DELETE FROM trusted_publishers WHERE namespace = $1 AND name = $2")
            .bind(&p.namespace)
            .bind(&p.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO trusted_publishers (id, namespace, name, issuer, claims, roles, \
             bind_commit, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.id)
        .bind(&p.namespace)
        .bind(&p.name)
        .bind(&p.issuer)
        .bind(Json(&p.claims))
        .bind(Json(&p.roles))
        .bind(p.bind_commit)
        .bind(p.created_at)
        .bind(&p.created_by)
        .execute(&mut *tx)
        .await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.publishers", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn publishers(&self, ns: &Namespace) -> Result<Vec<PublisherRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM trusted_publishers p WHERE p.namespace = $1 ORDER BY p.name"
        ))
        .bind(ns)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(publisher_of).collect()
    }

    #[tracing::instrument(level = "debug", name = "db.publishers_of_issuer", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn publishers_of_issuer(&self, issuer: &str) -> Result<Vec<PublisherRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM trusted_publishers p WHERE p.issuer = $1 ORDER BY p.namespace, p.name"
        ))
        .bind(issuer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(publisher_of).collect()
    }

    #[tracing::instrument(level = "debug", name = "db.delete_publisher", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn delete_publisher(
        &self,
        ns: &Namespace,
        name: &PublisherName,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM trusted_publishers WHERE namespace = $1 AND name = $2")
            .bind(ns)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.exchange", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn exchange(
        &self,
        e: &Exchange,
        t: &PublisherTokenRecord,
        secret_hash: &[u8],
        audit: &Pending,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let stale = t.created_at - chrono::Duration::hours(1);
        sqlx::query("DELETE FROM oidc_exchanges WHERE expires_at < $1")
            .bind(stale)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM publisher_tokens WHERE expires_at < $1")
            .bind(stale)
            .execute(&mut *tx)
            .await?;
        // The primary key decides between replicas exchanging the same token.
        let fresh = sqlx::query(
            "INSERT INTO oidc_exchanges (issuer, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&e.issuer)
        .bind(&e.jti)
        .bind(e.expires_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if fresh == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO publisher_tokens (id, secret_hash, publisher_id, identity, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id)
        .bind(secret_hash)
        .bind(t.publisher_id)
        .bind(Json(&t.identity))
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        commit(tx, audit).await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", name = "db.publisher_credential", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn publisher_credential(
        &self,
        hash: &[u8],
    ) -> Result<Option<(PublisherTokenRecord, PublisherRecord)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", t.id AS token_id, t.identity AS token_identity, t.created_at AS token_created_at, \
             t.expires_at AS token_expires_at \
             FROM publisher_tokens t JOIN trusted_publishers p ON p.id = t.publisher_id \
             WHERE t.secret_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let publisher = publisher_of(&row)?;
        let identity: Json<serde_json::Value> = row.try_get("token_identity")?;
        Ok(Some((
            PublisherTokenRecord {
                id: row.try_get("token_id")?,
                publisher_id: publisher.id,
                identity: identity.0,
                created_at: row.try_get("token_created_at")?,
                expires_at: row.try_get("token_expires_at")?,
            },
            publisher,
        )))
    }
}

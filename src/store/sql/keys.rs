//! Keys' and signatures' SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Store;
use super::audit::commit;
use super::epochs::change_trust;
use super::models::{version_columns, version_select};
use crate::error::{Error, Result};
use crate::kinds::RevocationReason;
use crate::names::KeyId;
use crate::store::{KeyRecord, Keys, Pending, SignatureRecord, VersionRecord, map_constraint};

macro_rules! key_select {
    () => {
        "SELECT keyid, material, name, algorithm, public_key, namespaces, expires_at, \
         created_at, created_by, revoked_at, revocation_reason, revocation_note FROM keys"
    };
}

#[async_trait]
impl Keys for Store {
    #[tracing::instrument(level = "debug", name = "db.create_key", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_key(&self, k: &KeyRecord, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        change_trust(&mut tx).await?;
        sqlx::query(
            "INSERT INTO keys (keyid, name, algorithm, public_key, namespaces, expires_at, \
             created_at, created_by, material) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&k.keyid)
        .bind(&k.name)
        .bind(k.algorithm)
        .bind(&k.public_key)
        .bind(&k.namespaces)
        .bind(k.expires_at)
        .bind(k.created_at)
        .bind(&k.created_by)
        .bind(&k.material)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_constraint(e, "this key is already registered"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_key", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_key(&self, keyid: &KeyId) -> Result<KeyRecord> {
        Ok(sqlx::query_as(concat!(key_select!(), " WHERE keyid = $1"))
            .bind(keyid)
            .fetch_one(&self.pool)
            .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.list_keys", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn list_keys(&self, after: &str, limit: i64) -> Result<Vec<KeyRecord>> {
        Ok(sqlx::query_as(concat!(
            key_select!(),
            " WHERE keyid > $1 ORDER BY keyid LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.all_keys", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn all_keys(&self) -> Result<Vec<KeyRecord>> {
        Ok(sqlx::query_as(key_select!()).fetch_all(&self.pool).await?)
    }

    #[tracing::instrument(level = "debug", name = "db.trust_epoch", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn trust_epoch(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT n FROM trust_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.revoke_key", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn revoke_key(
        &self,
        keyid: &KeyId,
        reason: RevocationReason,
        note: &str,
        audit: &Pending,
    ) -> Result<DateTime<Utc>> {
        let mut tx = self.begin_write().await?;
        let at = change_trust(&mut tx).await?;
        let n = sqlx::query(
            "UPDATE keys SET revoked_at = $2, revocation_reason = $3, revocation_note = $4 \
             WHERE keyid = $1 AND (revoked_at IS NULL \
               OR (revocation_reason = $5 AND $3 = $6))",
        )
        .bind(keyid)
        .bind(at)
        .bind(reason)
        .bind(note)
        .bind(RevocationReason::Retired)
        .bind(RevocationReason::Compromised)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            self.get_key(keyid).await?;
            return Err(Error::Conflict("the key is already revoked".into()));
        }
        commit(tx, audit).await?;
        Ok(at)
    }

    #[tracing::instrument(level = "debug", name = "db.add_signature", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn add_signature(
        &self,
        version_id: Uuid,
        s: &SignatureRecord,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO signatures (version_id, keyid, envelope, received_at, received_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version_id)
        .bind(&s.keyid)
        .bind(&s.envelope)
        .bind(s.received_at)
        .bind(&s.received_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_constraint(e, "this key already signed the version"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.signatures_of", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn signatures_of(&self, version_id: Uuid) -> Result<Vec<SignatureRecord>> {
        Ok(sqlx::query_as(
            "SELECT keyid, envelope, received_at, received_by FROM signatures \
             WHERE version_id = $1 ORDER BY received_at, keyid",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.signatures_at", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn signatures_at(&self, version_id: Uuid) -> Result<(i64, Vec<SignatureRecord>)> {
        use sqlx::{FromRow, Row};
        // One row per signature, or one with none when there is none.
        let rows = sqlx::query(
            "SELECT e.n AS epoch, s.keyid, s.envelope, s.received_at, s.received_by \
             FROM trust_epoch e LEFT JOIN signatures s ON s.version_id = $1 \
             WHERE e.id = 1 ORDER BY s.received_at, s.keyid",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?;
        let epoch = match rows.first() {
            Some(row) => row.try_get("epoch")?,
            None => return Err(Error::internal(anyhow::anyhow!("no trust epoch row"))),
        };
        let mut signatures = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<KeyId>, _>("keyid")?.is_some() {
                signatures.push(SignatureRecord::from_row(row)?);
            }
        }
        Ok((epoch, signatures))
    }

    #[tracing::instrument(level = "debug", name = "db.versions_signed_by", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn versions_signed_by(&self, keyid: &KeyId) -> Result<Vec<VersionRecord>> {
        Ok(sqlx::query_as(concat!(
            version_select!(),
            " WHERE v.id IN (SELECT version_id FROM signatures WHERE keyid = $1) \
             ORDER BY m.namespace, m.name, v.version"
        ))
        .bind(keyid)
        .fetch_all(&self.pool)
        .await?)
    }
}

//! Attestations' SQL.

use async_trait::async_trait;
use uuid::Uuid;

use super::Store;
use super::audit::commit;
use crate::error::{Error, Result};
use crate::store::{AttestationRecord, Attestations, Pending, map_constraint};

macro_rules! attestation_select {
    () => {
        "SELECT id, predicate_type, keyid, digest, envelope, received_at, received_by \
         FROM attestations"
    };
}

#[async_trait]
impl Attestations for Store {
    #[tracing::instrument(level = "debug", name = "db.add_attestation", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn add_attestation(
        &self,
        version_id: Uuid,
        a: &AttestationRecord,
        max: usize,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM attestations WHERE version_id = $1")
                .bind(version_id)
                .fetch_one(&mut *tx)
                .await?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= max {
            return Err(Error::Conflict(format!(
                "the version holds {max} attestations, the most a version holds"
            )));
        }
        sqlx::query(
            "INSERT INTO attestations (id, version_id, predicate_type, keyid, digest, envelope, \
             received_at, received_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id)
        .bind(version_id)
        .bind(&a.predicate_type)
        .bind(&a.keyid)
        .bind(&a.digest)
        .bind(&a.envelope)
        .bind(a.received_at)
        .bind(&a.received_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_constraint(e, "the version already holds this attestation"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.attestations_of", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn attestations_of(
        &self,
        version_id: Uuid,
        predicate_type: Option<&str>,
    ) -> Result<Vec<AttestationRecord>> {
        Ok(sqlx::query_as(concat!(
            attestation_select!(),
            " WHERE version_id = $1 AND (CAST($2 AS TEXT) IS NULL OR predicate_type = $2) \
             ORDER BY received_at, id"
        ))
        .bind(version_id)
        .bind(predicate_type)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.attestation", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn attestation(&self, version_id: Uuid, id: Uuid) -> Result<AttestationRecord> {
        Ok(sqlx::query_as(concat!(
            attestation_select!(),
            " WHERE version_id = $1 AND id = $2"
        ))
        .bind(version_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }
}

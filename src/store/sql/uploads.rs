//! Resumable upload sessions' SQL.

use async_trait::async_trait;
use uuid::Uuid;

use super::audit::commit;
use super::models::{insert_file, lock_draft};
use super::{Db, Store};
use crate::error::{Error, Result};
use crate::store::{FileRecord, PartCommit, Pending, UploadPart, UploadRecord, Uploads, WriteTx};

macro_rules! columns {
    () => {
        "id, version_id, path, size, blob_id, multipart_id, committed, hash_state, created_by, \
         created_at, expires_at, completed"
    };
}

/// Takes the session's row lock; the session as it is now.
async fn lock(tx: &mut WriteTx<Db>, id: Uuid) -> Result<UploadRecord> {
    sqlx::query_as(concat!(
        "UPDATE upload_sessions SET committed = committed WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound)
}

#[async_trait]
impl Uploads for Store {
    #[tracing::instrument(level = "debug", name = "db.create_upload", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_upload(
        &self,
        u: &UploadRecord,
        max_open: usize,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        lock_draft(&mut tx, u.version_id).await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM upload_sessions WHERE version_id = $1 AND NOT completed",
        )
        .bind(u.version_id)
        .fetch_one(&mut *tx)
        .await?;
        if open >= max_open as i64 {
            return Err(Error::TooManyUploads { limit: max_open });
        }
        sqlx::query(
            "INSERT INTO upload_sessions (id, version_id, path, size, blob_id, multipart_id, \
             committed, hash_state, created_by, created_at, expires_at, completed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(u.id)
        .bind(u.version_id)
        .bind(&u.path)
        .bind(u.size)
        .bind(u.blob_id)
        .bind(&u.multipart_id)
        .bind(u.committed)
        .bind(&u.hash_state)
        .bind(&u.created_by)
        .bind(u.created_at)
        .bind(u.expires_at)
        .bind(u.completed)
        .execute(&mut *tx)
        .await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_upload", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_upload(&self, id: Uuid) -> Result<UploadRecord> {
        sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM upload_sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)
    }

    #[tracing::instrument(level = "debug", name = "db.commit_parts", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn commit_parts(&self, id: Uuid, c: &PartCommit) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = lock(&mut tx, id).await?;
        if now.completed || now.committed != c.from {
            return Err(Error::UploadOffsetMismatch {
                offset: u64::try_from(now.committed).unwrap_or(0),
            });
        }
        sqlx::query(
            "UPDATE upload_sessions SET committed = $2, hash_state = $3, expires_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(c.to)
        .bind(&c.hash_state)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await?;
        for part in &c.parts {
            sqlx::query(
                "INSERT INTO upload_parts (upload_id, number, etag, blocks, chain) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (upload_id, number) DO UPDATE \
                 SET etag = excluded.etag, blocks = excluded.blocks, chain = excluded.chain",
            )
            .bind(id)
            .bind(part.number)
            .bind(&part.etag)
            .bind(&part.blocks)
            .bind(&part.chain)
            .execute(&mut *tx)
            .await?;
        }
        // Progress of a request whose own event is appended when it ends.
        commit(tx, &Pending::system()).await
    }

    #[tracing::instrument(level = "debug", name = "db.upload_parts", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn upload_parts(&self, id: Uuid) -> Result<Vec<UploadPart>> {
        Ok(sqlx::query_as(
            "SELECT number, etag, blocks, chain FROM upload_parts WHERE upload_id = $1 ORDER BY number",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.complete_upload", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn complete_upload(
        &self,
        id: Uuid,
        version_id: Uuid,
        file: &FileRecord,
        max_files: usize,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = lock(&mut tx, id).await?;
        if now.completed {
            return Err(Error::Conflict("the upload is already complete".into()));
        }
        insert_file(&mut tx, version_id, file, max_files).await?;
        sqlx::query("UPDATE upload_sessions SET completed = $2 WHERE id = $1")
            .bind(id)
            .bind(true)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.delete_upload", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn delete_upload(&self, id: Uuid, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM upload_sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.expired_uploads", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn expired_uploads(&self, now: i64, limit: i64) -> Result<Vec<UploadRecord>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM upload_sessions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

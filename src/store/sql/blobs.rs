//! Blob references' SQL.

use async_trait::async_trait;
use uuid::Uuid;

use super::Store;
use crate::error::Result;
use crate::store::BlobRefs;

#[async_trait]
impl BlobRefs for Store {
    #[tracing::instrument(level = "debug", name = "db.referenced_blobs", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn referenced_blobs(&self, ids: &[Uuid]) -> Result<Vec<Uuid>> {
        let mut found = Vec::new();
        for id in ids {
            let hit: Option<Uuid> =
                sqlx::query_scalar("SELECT blob_id FROM files WHERE blob_id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            found.extend(hit);
        }
        Ok(found)
    }
}

//! Which stored blobs the metadata still references (for garbage collection).

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::Result;

#[async_trait]
pub trait BlobRefs: Send + Sync {
    /// Which of these blob ids a file row references.
    async fn referenced_blobs(&self, ids: &[Uuid]) -> Result<Vec<Uuid>>;
}

//! The blob store: artifact bytes in a local directory or an S3-compatible bucket.
//!
//! Dependency rule: domain code calls [`BlobStore`]; only this module talks to
//! `object_store`. Keys are typed ([`BlobKey`]) and never leave the service.
//!
//! Every upload writes a fresh object (one per upload, named by a random id)
//! through a multipart upload, hashing as the bytes arrive. Nothing is copied or
//! renamed afterwards (S3's single-request copy stops at 5 GiB): the database row
//! that records the file is what makes the object visible, and an object no row
//! references is garbage that `registry::gc` removes after a grace period.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::Digest;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::names::Sha256;

mod chain;
mod checked;
mod open;
mod parts;
mod read;
mod write;
pub use chain::{Blocks, value as chain_value};
use checked::*;
pub use open::S3Options;
use parts::Parts;
pub use parts::{PART, PartsOf};
pub use read::BlobReader;
use read::*;
use write::*;

/// Where an object lives. The only place object paths are spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKey {
    /// The bytes of one uploaded file.
    Artifact(Uuid),
}

impl BlobKey {
    const ARTIFACTS: &'static str = "artifacts";

    fn path(&self) -> Path {
        match self {
            BlobKey::Artifact(id) => Path::from(format!("{}/{}", Self::ARTIFACTS, id.simple())),
        }
    }

    fn parse(p: &Path) -> Option<Self> {
        let mut parts = p.parts();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(dir), Some(name), None) if dir.as_ref() == Self::ARTIFACTS => {
                Uuid::try_parse(name.as_ref()).ok().map(BlobKey::Artifact)
            }
            _ => None,
        }
    }
}

/// Tuning for streamed uploads. Memory held per upload is about
/// `part_size * (concurrency + 1)`, whatever the file size.
#[derive(Debug, Clone, Copy)]
pub struct UploadTuning {
    pub part_size: usize,
    pub concurrency: usize,
}

impl Default for UploadTuning {
    fn default() -> Self {
        // 8 MiB parts (S3 wants >= 5 MiB), 4 in flight: ~40 MiB per upload at most.
        Self {
            part_size: 8 << 20,
            concurrency: 4,
        }
    }
}

/// A finished upload: the object exists but nothing references it yet.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: Uuid,
    pub size: u64,
    pub sha256: Sha256,
    /// The SHA-256 chaining value at each [`BLOCK`] boundary before the end,
    /// concatenated (32 bytes each): see [`Blocks::Chain`]. None when they are
    /// not known (a resumable upload with parts stored before they were kept).
    pub chain: Option<Vec<u8>>,
}

/// Size of the blocks a range of a file is checked in, without reading the
/// whole file: 4 MiB.
pub const BLOCK: u64 = 4 << 20;

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// Where resumable uploads keep their parts.
    parts: Parts,
    tuning: UploadTuning,
    /// Presigns object URLs (an S3 store only).
    signer: Option<open::Signing>,
}

impl BlobStore {
    /// Answers when the store does: a missing probe object is a healthy answer.
    #[tracing::instrument(level = "debug", name = "storage.ping", skip_all)]
    pub async fn ping(&self) -> Result<()> {
        let key = Path::from("readyz-probe");
        let probe = self.inner.head(&key);
        // A readiness probe answers within its own deadline.
        let Ok(answered) = tokio::time::timeout(std::time::Duration::from_secs(2), probe).await
        else {
            return Err(Error::Unavailable(anyhow::anyhow!(
                "the blob store did not answer"
            )));
        };
        match answered {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Unavailable(e.into())),
        }
    }

    /// Deletes an object; deleting a missing one succeeds.
    #[tracing::instrument(level = "debug", name = "storage.delete", skip_all)]
    pub async fn delete(&self, key: BlobKey) -> Result<()> {
        match self.inner.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Lists artifact objects with their last-modified times.
    pub(crate) fn list_artifacts(
        &self,
    ) -> BoxStream<'static, Result<(Uuid, chrono::DateTime<chrono::Utc>)>> {
        self.inner
            .list(Some(&Path::from(BlobKey::ARTIFACTS)))
            .filter_map(|r| async move {
                match r {
                    Ok(meta) => match BlobKey::parse(&meta.location) {
                        Some(BlobKey::Artifact(id)) => Some(Ok((id, meta.last_modified))),
                        None => None,
                    },
                    Err(e) => Some(Err(e.into())),
                }
            })
            .boxed()
    }
}

fn digest_of(h: sha2::Sha256) -> Sha256 {
    Sha256::from_bytes(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kms_key_without_kms_encryption_is_refused() {
        let s3 = |sse: Option<&str>, key: Option<&str>| S3Options {
            region: Some("eu-west-1".into()),
            sse: sse.map(str::to_owned),
            sse_kms_key_id: key.map(str::to_owned),
            ..Default::default()
        };
        let open = |o: &S3Options| BlobStore::open("s3://bucket/p", o, UploadTuning::default());
        assert!(open(&s3(Some("AES256"), Some("k"))).is_err());
        assert!(open(&s3(Some("AES256"), None)).is_ok());
        assert!(open(&s3(Some("aws:kms"), Some("k"))).is_ok());
        assert!(open(&s3(Some("aws:kms"), None)).is_ok());
        assert!(open(&s3(None, None)).is_ok());
    }
}

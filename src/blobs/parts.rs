//! Parts of resumable uploads: bytes that arrive over several requests and
//! become one artifact object when the upload completes.
//!
//! On S3 a session is a multipart upload of the artifact's own key: each part
//! is an `UploadPart`, completion is `CompleteMultipartUpload`, nothing is
//! copied. In a local directory a session is a staging file under `uploads/`,
//! written at the committed offset (a tail left by an interrupted request is cut
//! off first) and renamed into `artifacts/` on completion. Neither is listed as
//! an artifact until then, so garbage collection of artifacts never sees them;
//! expired sessions are removed through [`BlobStore::abort_parts`].

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use uuid::Uuid;

use super::{BlobKey, BlobStore};
use crate::error::{Error, Result};

/// Bytes per part of a resumable upload: a multiple of the 4 MiB checked block
/// (so the chaining values at a part's block boundaries are its own) and above
/// S3's 5 MiB minimum.
pub const PART: u64 = 8 << 20;

/// Where the parts of sessions go.
#[derive(Clone)]
pub(super) enum Parts {
    /// A local directory: staging files under `uploads/`.
    Local(PathBuf),
    /// An S3 bucket (with the prefix of the store, if any).
    Multipart {
        store: Arc<dyn MultipartStore>,
        prefix: String,
    },
}

/// A session's storage: its id, the artifact it becomes, and the storage's own
/// upload id (S3).
#[derive(Debug, Clone, Copy)]
pub struct PartsOf<'a> {
    pub session: Uuid,
    pub blob: Uuid,
    pub multipart_id: Option<&'a str>,
}

/// The key of artifact `blob` in the bucket, under the store's prefix.
fn artifact_key(prefix: &str, blob: Uuid) -> Path {
    let key = BlobKey::Artifact(blob).path();
    if prefix.is_empty() {
        key
    } else {
        Path::from(format!("{prefix}/{key}"))
    }
}

fn staging(root: &std::path::Path, session: Uuid) -> PathBuf {
    root.join("uploads").join(session.simple().to_string())
}

fn artifact_file(root: &std::path::Path, blob: Uuid) -> PathBuf {
    root.join(BlobKey::Artifact(blob).path().as_ref())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Error::internal)?
        .map_err(|e| {
            if crate::error::storage_full(&e) {
                Error::StorageFull
            } else {
                Error::Unavailable(e.into())
            }
        })
}

impl BlobStore {
    /// Starts a session's storage; answers the storage's upload id, if any.
    #[tracing::instrument(level = "debug", name = "storage.begin_parts", skip_all)]
    pub async fn begin_parts(&self, session: Uuid, blob: Uuid) -> Result<Option<String>> {
        match &self.parts {
            Parts::Local(root) => {
                let path = staging(root, session);
                blocking(move || {
                    std::fs::create_dir_all(path.parent().expect("under uploads/"))?;
                    std::fs::File::create(&path).map(drop)
                })
                .await?;
                Ok(None)
            }
            Parts::Multipart { store, prefix } => {
                let key = artifact_key(prefix, blob);
                Ok(Some(store.create_multipart(&key).await?))
            }
        }
    }

    /// Stores part `number` (1-based), the bytes at `offset`; answers what the
    /// storage names it by (S3's ETag). Storing a part again replaces it.
    #[tracing::instrument(level = "debug", name = "storage.write_part", skip_all)]
    pub async fn write_part(
        &self,
        of: PartsOf<'_>,
        number: u64,
        offset: u64,
        data: Vec<Bytes>,
    ) -> Result<Option<String>> {
        match &self.parts {
            Parts::Local(root) => {
                let path = staging(root, of.session);
                blocking(move || {
                    use std::io::{Seek, SeekFrom};
                    let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
                    // Whatever an interrupted request left past the committed
                    // offset goes first.
                    f.set_len(offset)?;
                    f.seek(SeekFrom::Start(offset))?;
                    // Like every write to the local directory, flushing is left to
                    // the page cache: a part survives the process (kill -9), not a
                    // power cut, and a file that lost bytes fails its digest check
                    // on the way out.
                    crate::vectored::write_chunks(&mut f, &data)
                })
                .await
                .map_err(|e| match e {
                    // The session's file is gone: the session was removed meanwhile.
                    Error::Unavailable(inner)
                        if inner
                            .downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
                    {
                        Error::NotFound
                    }
                    other => other,
                })?;
                Ok(None)
            }
            Parts::Multipart { store, prefix } => {
                let key = artifact_key(prefix, of.blob);
                let id = of.multipart_id.ok_or_else(|| {
                    Error::internal(anyhow::anyhow!("a session without its multipart upload"))
                })?;
                let idx = usize::try_from(number - 1).map_err(Error::internal)?;
                let part = store
                    .put_part(&key, &id.to_owned(), idx, data.into_iter().collect())
                    .await?;
                Ok(Some(part.content_id))
            }
        }
    }

    /// Makes the stored parts the artifact `of.blob` (of `size` bytes). Done
    /// again after it already happened (a retried completion), it succeeds when
    /// the artifact is there with that size.
    #[tracing::instrument(level = "debug", name = "storage.finish_parts", skip_all)]
    pub async fn finish_parts(
        &self,
        of: PartsOf<'_>,
        etags: Vec<Option<String>>,
        size: u64,
    ) -> Result<()> {
        let done = match &self.parts {
            Parts::Local(root) => {
                let (from, to) = (staging(root, of.session), artifact_file(root, of.blob));
                blocking(move || {
                    std::fs::create_dir_all(to.parent().expect("under artifacts/"))?;
                    std::fs::rename(&from, &to)
                })
                .await
            }
            Parts::Multipart { store, prefix } => {
                let key = artifact_key(prefix, of.blob);
                let id = of.multipart_id.unwrap_or_default().to_owned();
                if size == 0 {
                    // S3 completes no multipart upload without parts: an empty
                    // file is a plain empty object.
                    let _ = store.abort_multipart(&key, &id).await;
                    self.inner
                        .put(&BlobKey::Artifact(of.blob).path(), PutPayload::new())
                        .await
                        .map(drop)
                        .map_err(Error::from)
                } else {
                    let parts = etags
                        .into_iter()
                        .map(|e| PartId {
                            content_id: e.unwrap_or_default(),
                        })
                        .collect();
                    store
                        .complete_multipart(&key, &id, parts)
                        .await
                        .map(drop)
                        .map_err(Error::from)
                }
            }
        };
        match done {
            Ok(()) => Ok(()),
            Err(e) => match self.inner.head(&BlobKey::Artifact(of.blob).path()).await {
                Ok(meta) if meta.size == size => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Discards a session's stored parts; discarding them again succeeds.
    #[tracing::instrument(level = "debug", name = "storage.abort_parts", skip_all)]
    pub async fn abort_parts(&self, of: PartsOf<'_>) -> Result<()> {
        match &self.parts {
            Parts::Local(root) => {
                let path = staging(root, of.session);
                blocking(move || match std::fs::remove_file(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                })
                .await
            }
            Parts::Multipart { store, prefix } => {
                let Some(id) = of.multipart_id else {
                    return Ok(());
                };
                let key = artifact_key(prefix, of.blob);
                match store.abort_multipart(&key, &id.to_owned()).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

//! Writing an object: a multipart upload fed as the bytes arrive, hashed on a
//! thread of its own, aborted on any error or when the request goes away.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{ObjectStoreExt, WriteMultipart};
use uuid::Uuid;

use super::*;
use crate::error::{Error, Result};
use crate::names::Sha256;

/// A digest of a stream: fed its chunks in order, then finished.
pub(super) trait Digesting: Send + 'static {
    type Out: Send + 'static;
    fn feed(&mut self, bytes: &[u8]);
    fn finish(self) -> Self::Out;
}

/// A digest computed on a thread of its own from the chunks it is handed, so
/// that an upload's loop only receives and writes: chunk n is hashed while n+1
/// is received and n-1 written.
pub(super) struct HashThread<T> {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    done: tokio::task::JoinHandle<T>,
}

impl<T: Send + 'static> HashThread<T> {
    /// Chunks queued for the thread: bounds the memory it may lag by.
    const QUEUE: usize = 64;

    fn start<D: Digesting<Out = T>>(mut digest: D) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(Self::QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                digest.feed(&chunk);
            }
            digest.finish()
        });
        Self { tx: Some(tx), done }
    }

    async fn feed(&self, chunk: Bytes) {
        if let Some(tx) = &self.tx {
            // Waits only when the thread is a full queue behind.
            let _ = tx.send(chunk).await;
        }
    }

    async fn finish(mut self) -> Result<T> {
        self.tx.take();
        self.done.await.map_err(Error::internal)
    }
}

impl BlobStore {
    /// Streams `body` into a new object, hashing on the way.
    ///
    /// The declared digest and the size limit are checked before the multipart
    /// upload is completed, so a refused upload leaves no object behind. Any error,
    /// and a dropped future (client gone), aborts the upload.
    #[tracing::instrument(level = "debug", name = "storage.write", skip_all)]
    pub async fn write<S>(
        &self,
        mut body: S,
        limit: u64,
        expected: Option<Sha256>,
    ) -> Result<Written>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let id = Uuid::new_v4();
        let upload = self
            .inner
            .put_multipart(&BlobKey::Artifact(id).path())
            .await?;
        let mut guard = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(
            upload,
            self.tuning.part_size,
        )));
        let whole = HashThread::start(chain::Chained::default());
        let mut size: u64 = 0;
        let failure = loop {
            let Some(chunk) = body.next().await else {
                break None;
            };
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => break Some(e),
            };
            size += chunk.len() as u64;
            if size > limit {
                break Some(Error::TooLarge { limit });
            }
            whole.feed(chunk.clone()).await;
            let w = guard.get();
            if let Err(e) = w.wait_for_capacity(self.tuning.concurrency).await {
                break Some(e.into());
            }
            w.put(chunk);
        };
        // Still guarded: a hashing thread that failed aborts the upload too.
        let (sha256, chain) = whole.finish().await?;
        let writer = guard.take();
        let failure = failure.or_else(|| match expected {
            Some(d) if d != sha256 => Some(Error::DigestMismatch),
            _ => None,
        });
        if let Some(err) = failure {
            if let Err(e) = writer.abort().await {
                tracing::warn!(error = %e, "aborting a refused upload failed");
            }
            return Err(err);
        }
        if size == 0 {
            // S3 refuses to complete a multipart upload without parts; an empty
            // file is a plain empty object.
            writer.abort().await?;
            self.inner
                .put(&BlobKey::Artifact(id).path(), PutPayload::new())
                .await?;
        } else {
            writer.finish().await?;
        }
        Ok(Written {
            id,
            size,
            sha256,
            chain: Some(chain),
        })
    }
}

/// Holds a multipart writer and aborts it if the upload is abandoned mid-way
/// (for instance when the client disconnects and the request future is dropped).
pub(super) struct AbortOnDrop(Option<WriteMultipart>);

impl AbortOnDrop {
    fn get(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("writer present until taken")
    }

    fn take(&mut self) -> WriteMultipart {
        self.0.take().expect("writer taken once")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(w) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if let Err(e) = w.abort().await {
                    tracing::warn!(error = %e, "aborting an abandoned upload failed");
                }
            });
        }
    }
}

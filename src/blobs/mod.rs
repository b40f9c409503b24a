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

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};
use sha2::Digest;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::names::Sha256;

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
}

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    tuning: UploadTuning,
}

/// S3 settings beyond the URL; credentials come from the standard AWS variables.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: bool,
}

impl BlobStore {
    /// Opens `s3://bucket[/prefix]`, `file:///dir`, or a plain directory path
    /// (created if missing).
    pub fn open(url: &str, s3: &S3Options, tuning: UploadTuning) -> Result<Self> {
        let inner: Arc<dyn ObjectStore> = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid("storage URL s3:// needs a bucket"));
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(e) = &s3.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &s3.region {
                b = b.with_region(r);
            }
            if s3.allow_http {
                b = b.with_allow_http(true);
            }
            let store = b
                .with_virtual_hosted_style_request(false)
                .build()
                .map_err(|e| Error::invalid(format!("invalid S3 configuration: {e}")))?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(PrefixStore::new(store, prefix))
            }
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
            let fs = LocalFileSystem::new_with_prefix(dir)
                .map_err(Error::internal)?
                .with_automatic_cleanup(true);
            Arc::new(fs)
        };
        Ok(Self { inner, tuning })
    }

    /// Answers when the store does: a missing probe object is a healthy answer.
    pub async fn ping(&self) -> Result<()> {
        match self.inner.head(&Path::from("readyz-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Unavailable(e.into())),
        }
    }

    /// Streams `body` into a new object, hashing on the way.
    ///
    /// The declared digest and the size limit are checked before the multipart
    /// upload is completed, so a refused upload leaves no object behind. Any error,
    /// and a dropped future (client gone), aborts the upload.
    pub async fn write<S, E>(
        &self,
        mut body: S,
        limit: u64,
        expected: Option<Sha256>,
    ) -> Result<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
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
        let mut hasher = sha2::Sha256::new();
        let mut size: u64 = 0;
        let failure = loop {
            let Some(chunk) = body.next().await else {
                break None;
            };
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(error = %e, "upload body ended early");
                    break Some(Error::invalid("the upload was interrupted"));
                }
            };
            size += chunk.len() as u64;
            if size > limit {
                break Some(Error::TooLarge { limit });
            }
            hasher.update(&chunk);
            let w = guard.get();
            if let Err(e) = w.wait_for_capacity(self.tuning.concurrency).await {
                break Some(e.into());
            }
            w.put(chunk);
        };
        let writer = guard.take();
        let sha256 = Sha256::from_bytes(hasher.finalize().into());
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
        Ok(Written { id, size, sha256 })
    }

    /// Streams an object's bytes (or a range of them) as stored, unchecked.
    ///
    /// Reading runs ahead of the consumer by a few chunks (a bounded channel), so
    /// storage I/O overlaps with hashing and sending instead of alternating.
    pub async fn read(
        &self,
        id: Uuid,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .inner
            .get_opts(&BlobKey::Artifact(id).path(), opts)
            .await?;
        let range = got.range.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(READ_AHEAD);
        match got.payload {
            // object_store reads local files 8 KiB at a time, one blocking call each;
            // one blocking reader with large chunks is several times faster.
            GetResultPayload::File(file, _) => {
                tokio::task::spawn_blocking(move || read_file(&file, range, &tx));
            }
            GetResultPayload::Stream(mut inner) => {
                tokio::spawn(async move {
                    while let Some(item) = inner.next().await {
                        let failed = item.is_err();
                        if tx.send(item.map_err(Error::from)).await.is_err() || failed {
                            break;
                        }
                    }
                });
            }
        }
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    /// Reads a small range of an object into memory (format detection).
    pub async fn read_bytes(&self, id: Uuid, range: Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        Ok(self
            .inner
            .get_range(&BlobKey::Artifact(id).path(), range)
            .await?)
    }

    /// Streams a whole object and checks it against the recorded size and digest.
    ///
    /// The last chunk is held back until the digest of everything before it and
    /// of itself is known: when storage was tampered with, the stream ends in an
    /// error instead, so the client never receives a complete, wrong file.
    pub async fn read_verified(
        &self,
        id: Uuid,
        size: u64,
        digest: Sha256,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let inner = self.read(id, None).await?;
        Ok(verify(inner, size, digest))
    }

    /// Deletes an object; deleting a missing one succeeds.
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

/// Chunks in flight between a reader and the response: bounds download memory.
const READ_AHEAD: usize = 8;
/// Chunk size for local files.
const FILE_CHUNK: u64 = 1 << 20;

/// Reads `range` of a local file into the channel, stopping early when the
/// receiver is gone (client disconnected) or a read fails (the error is sent).
fn read_file(
    file: &std::fs::File,
    range: Range<u64>,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes>>,
) {
    use std::os::unix::fs::FileExt;
    let mut pos = range.start;
    while pos < range.end {
        let n = (range.end - pos).min(FILE_CHUNK) as usize;
        let mut buf = vec![0u8; n];
        let item = file
            .read_exact_at(&mut buf, pos)
            .map(|()| Bytes::from(buf))
            .map_err(Error::internal);
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
        pos += n as u64;
    }
}

/// Holds a multipart writer and aborts it if the upload is abandoned mid-way
/// (for instance when the client disconnects and the request future is dropped).
struct AbortOnDrop(Option<WriteMultipart>);

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

fn verify(
    inner: BoxStream<'static, Result<Bytes>>,
    size: u64,
    digest: Sha256,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        inner: BoxStream<'static, Result<Bytes>>,
        hasher: sha2::Sha256,
        seen: u64,
        held: Option<Bytes>,
        done: bool,
    }
    let state = State {
        inner,
        hasher: sha2::Sha256::new(),
        seen: 0,
        held: None,
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    st.seen += chunk.len() as u64;
                    st.hasher.update(&chunk);
                    if let Some(prev) = st.held.replace(chunk) {
                        return Some((Ok(prev), st));
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    let actual = Sha256::from_bytes(st.hasher.clone().finalize().into());
                    if st.seen != size || actual != digest {
                        tracing::error!(
                            expected_size = size,
                            actual_size = st.seen,
                            expected = %digest,
                            actual = %actual,
                            "stored bytes do not match the recorded digest; download aborted"
                        );
                        crate::metrics::INTEGRITY_FAILURES.inc();
                        return Some((Err(Error::internal(anyhow::anyhow!("integrity"))), st));
                    }
                    return st.held.take().map(|last| (Ok(last), st));
                }
            }
        }
    })
    .boxed()
}

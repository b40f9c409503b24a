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
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};
use sha2::Digest;
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::names::Sha256;

mod chain;
mod parts;
pub use chain::{Blocks, value as chain_value};
use parts::Parts;
pub use parts::{PART, PartsOf};

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

/// A digest of a stream: fed its chunks in order, then finished.
trait Digesting: Send + 'static {
    type Out: Send + 'static;
    fn feed(&mut self, bytes: &[u8]);
    fn finish(self) -> Self::Out;
}

/// A digest computed on a thread of its own from the chunks it is handed, so
/// that an upload's loop only receives and writes: chunk n is hashed while n+1
/// is received and n-1 written.
struct HashThread<T> {
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

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// Where resumable uploads keep their parts.
    parts: Parts,
    tuning: UploadTuning,
}

/// S3 settings beyond the URL; credentials come from the standard AWS variables.
#[derive(Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: bool,
    /// Credentials given to Signet (otherwise the AWS environment's).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Server-side encryption asked for on every write: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// The KMS key of `aws:kms`.
    pub sse_kms_key_id: Option<String>,
}

// The credentials are secrets: never print them.
impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("sse", &self.sse)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Opens `s3://bucket[/prefix]`, `file:///dir`, or a plain directory path
    /// (created if missing).
    pub fn open(url: &str, s3: &S3Options, tuning: UploadTuning) -> Result<Self> {
        let (inner, parts): (Arc<dyn ObjectStore>, Parts) = if let Some(rest) =
            url.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid("storage URL s3:// needs a bucket"));
            }
            // Set first: the client options replace any set before (allow_http).
            let mut b = AmazonS3Builder::from_env()
                .with_client_options(
                    object_store::ClientOptions::new()
                        .with_connect_timeout(std::time::Duration::from_secs(2)),
                )
                .with_bucket_name(bucket);
            if let Some(e) = &s3.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &s3.region {
                b = b.with_region(r);
            }
            if s3.allow_http {
                b = b.with_allow_http(true);
            }
            if let Some(id) = &s3.access_key_id {
                b = b.with_access_key_id(id);
            }
            if let Some(secret) = &s3.secret_access_key {
                b = b.with_secret_access_key(secret);
            }
            match (s3.sse.as_deref(), &s3.sse_kms_key_id) {
                (None, _) => {}
                (Some("aws:kms"), Some(key)) => b = b.with_sse_kms_encryption(key),
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        "SIGNET_S3_SSE_KMS_KEY_ID needs SIGNET_S3_SSE=aws:kms",
                    ));
                }
                (Some(kind), None) => {
                    let key: object_store::aws::AmazonS3ConfigKey = "aws_server_side_encryption"
                        .parse()
                        .map_err(|e| Error::invalid(format!("invalid S3 configuration: {e}")))?;
                    b = b.with_config(key, kind);
                }
            }
            // An unreachable store is an error within seconds (a 503 for the
            // request), not minutes of retries: three retries within 10 s.
            let retry = object_store::RetryConfig {
                backoff: object_store::BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(10),
            };
            let store = b
                .with_retry(retry)
                .with_virtual_hosted_style_request(false)
                .build()
                .map_err(|e| Error::invalid(format!("invalid S3 configuration: {e}")))?;
            let store = Arc::new(store);
            let prefix = prefix.trim_matches('/');
            let parts = Parts::Multipart {
                store: store.clone(),
                prefix: prefix.to_owned(),
            };
            if prefix.is_empty() {
                (store, parts)
            } else {
                (Arc::new(PrefixStore::new(store, prefix)), parts)
            }
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            std::fs::create_dir_all(dir).map_err(Error::internal)?;
            let fs = LocalFileSystem::new_with_prefix(dir)
                .map_err(Error::internal)?
                .with_automatic_cleanup(true);
            (Arc::new(fs), Parts::Local(dir.into()))
        };
        Ok(Self {
            inner,
            parts,
            tuning,
        })
    }

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

    /// Streams an object's bytes (or a range of them) as stored, unchecked.
    ///
    /// Reading runs ahead of the consumer by a few chunks (a bounded channel), so
    /// storage I/O overlaps with hashing and sending instead of alternating.
    #[tracing::instrument(level = "debug", name = "storage.read", skip_all)]
    pub async fn read(
        &self,
        id: Uuid,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let rx = self.start_read(id, range, None).await?;
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                return match rx.recv().await? {
                    Ok(Piece::Bytes(b)) => Some((Ok(b), rx)),
                    Ok(Piece::Hashed(_)) => continue,
                    Err(e) => Some((Err(e), rx)),
                };
            }
        })
        .boxed())
    }

    /// Starts reading `range` of an object (all of it when `None`) into a
    /// channel, `READ_AHEAD` chunks ahead of whoever takes them. With
    /// `whole: Some(size)` (a whole object, to be checked), an object of another
    /// length is an error at once, and the reader hashes what it reads and sends
    /// the digest after the last chunk: hashing then runs beside the sending of
    /// earlier chunks instead of between them.
    async fn start_read(
        &self,
        id: Uuid,
        range: Option<Range<u64>>,
        whole: Option<u64>,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Piece>>> {
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .inner
            .get_opts(&BlobKey::Artifact(id).path(), opts)
            .await?;
        let range = got.range.clone();
        if let Some(size) = whole
            && got.meta.size != size
        {
            return Err(length_mismatch(size, got.meta.size));
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Piece>>(READ_AHEAD);
        let hasher = whole.map(|_| sha2::Sha256::new());
        match got.payload {
            // object_store reads local files 8 KiB at a time, one blocking call each;
            // one blocking reader with large chunks is several times faster.
            GetResultPayload::File(file, _) => {
                tokio::task::spawn_blocking(move || read_file(&file, range, hasher, &tx));
            }
            GetResultPayload::Stream(mut inner) => {
                tokio::spawn(async move {
                    let mut hasher = hasher;
                    while let Some(item) = inner.next().await {
                        let item = item.map_err(Error::from).map(|b| {
                            if let Some(h) = hasher.as_mut() {
                                h.update(&b);
                            }
                            Piece::Bytes(b)
                        });
                        let failed = item.is_err();
                        if tx.send(item).await.is_err() || failed {
                            return;
                        }
                    }
                    if let Some(h) = hasher {
                        let _ = tx.send(Ok(Piece::Hashed(digest_of(h)))).await;
                    }
                });
            }
        }
        Ok(rx)
    }

    /// Reads a small range of an object into memory (format detection).
    #[tracing::instrument(level = "debug", name = "storage.read_bytes", skip_all)]
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
        let pieces = if matches!(self.parts, Parts::Multipart { .. }) && size > READ_PART {
            self.start_read_parts(id, size).await?
        } else {
            self.start_read(id, None, Some(size)).await?
        };
        Ok(verify(pieces, size, digest))
    }

    /// [`BlobStore::start_read`] of a whole object of `size` bytes on a remote
    /// store, hashed: ranged GETs of `READ_PART` bytes, `PARTS_IN_FLIGHT` at
    /// once, passed on in order. One GET stream is bounded by what the server
    /// serves per connection; parts in flight keep the server's cores busy
    /// while earlier parts are hashed and sent. Memory: the parts in flight.
    ///
    /// The first part is asked for before answering, so an unreachable store,
    /// or an object whose length is not `size`, is an error before any byte goes
    /// out, as with one GET. A part that comes back short ends the stream in an
    /// error.
    async fn start_read_parts(
        &self,
        id: Uuid,
        size: u64,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Piece>>> {
        let (inner, path) = (self.inner.clone(), BlobKey::Artifact(id).path());
        let first = get_part(inner.clone(), path.clone(), 0..READ_PART).await?;
        if first.meta.size != size {
            return Err(length_mismatch(size, first.meta.size));
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Piece>>(READ_AHEAD);
        tokio::spawn(async move {
            // Each part is fetched by a task of its own, so parts in flight keep
            // arriving while an earlier one waits for the client.
            let first = AbortOnDropHandle::new(tokio::spawn(part_bytes(first)));
            let rest = (READ_PART..size).step_by(READ_PART as usize).map(|start| {
                let range = start..(start + READ_PART).min(size);
                let get = get_part(inner.clone(), path.clone(), range);
                AbortOnDropHandle::new(tokio::spawn(async move { part_bytes(get.await?).await }))
            });
            let mut parts =
                futures::stream::iter(std::iter::once(first).chain(rest)).buffered(PARTS_IN_FLIGHT);
            let mut hasher = sha2::Sha256::new();
            while let Some(part) = parts.next().await {
                let chunks = match part.map_err(Error::internal).and_then(|p| p) {
                    Ok(chunks) => chunks,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                for chunk in chunks {
                    hasher.update(&chunk);
                    if tx.send(Ok(Piece::Bytes(chunk))).await.is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(Piece::Hashed(digest_of(hasher)))).await;
        });
        Ok(rx)
    }

    /// Streams `range` of an object whose blocks can be checked (`blocks`),
    /// checking every block the range touches before any of its bytes leave: the
    /// read is widened to whole blocks, each block is hashed and checked, and only
    /// then is its part of the range sent. A block that does not match ends the
    /// stream in an error, as a whole-file download does. Memory: one block per
    /// stream.
    pub async fn read_range_verified(
        &self,
        id: Uuid,
        range: Range<u64>,
        size: u64,
        blocks: Blocks,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        if !blocks.cover(size) {
            return Err(Error::internal(anyhow::anyhow!(
                "the recorded blocks do not cover the file"
            )));
        }
        let first = range.start / BLOCK;
        let aligned = first * BLOCK..(range.end.div_ceil(BLOCK) * BLOCK).min(size);
        let inner = self.read(id, Some(aligned.clone())).await?;
        Ok(verify_blocks(inner, aligned, range, size, blocks))
    }

    /// Reads a whole object, checks it against its recorded size and digest, and
    /// answers its chaining values (for files stored before they were recorded).
    #[tracing::instrument(level = "debug", name = "storage.chain_of", skip_all)]
    pub async fn chain_of(&self, id: Uuid, size: u64, digest: Sha256) -> Result<Vec<u8>> {
        let mut inner = self.read(id, None).await?;
        let mut whole = chain::Chained::default();
        let mut seen = 0u64;
        while let Some(chunk) = inner.next().await {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            whole.feed(&chunk);
        }
        let (actual, chain) = whole.finish();
        if seen != size || actual != digest {
            integrity_failure(size, seen, digest, actual);
            return Err(Error::internal(anyhow::anyhow!("integrity")));
        }
        Ok(chain)
    }

    /// A blocking reader with random access to an object of `size` bytes, for
    /// parsers that need `Read + Seek` (format detection). Use it on a blocking
    /// thread: each read of a new region is one ranged GET.
    pub fn reader(&self, id: Uuid, size: u64) -> BlobReader {
        BlobReader {
            store: self.clone(),
            id,
            size,
            pos: 0,
            buf: Bytes::new(),
            buf_at: 0,
            runtime: tokio::runtime::Handle::current(),
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

/// See [`BlobStore::reader`].
pub struct BlobReader {
    store: BlobStore,
    id: Uuid,
    size: u64,
    pos: u64,
    /// The last region fetched, starting at `buf_at`.
    buf: Bytes,
    buf_at: u64,
    runtime: tokio::runtime::Handle,
}

impl BlobReader {
    /// Bytes fetched per ranged read.
    const FETCH: u64 = 1 << 20;
}

impl std::io::Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let in_buf = self.pos >= self.buf_at && self.pos < self.buf_at + self.buf.len() as u64;
        if !in_buf {
            let end = (self.pos + Self::FETCH.max(out.len() as u64)).min(self.size);
            let fetch = self.store.read_bytes(self.id, self.pos..end);
            self.buf = self
                .runtime
                .block_on(fetch)
                .map_err(std::io::Error::other)?;
            self.buf_at = self.pos;
        }
        let from = (self.pos - self.buf_at) as usize;
        let n = out.len().min(self.buf.len() - from);
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for BlobReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

/// Chunks in flight between a reader and the response: bounds download memory.
const READ_AHEAD: usize = 8;
/// A ranged GET of a long read from a remote store (`start_read_parts`).
const READ_PART: u64 = 8 << 20;
/// Ranged GETs in flight for one read: with the one being sent, at most
/// (`PARTS_IN_FLIGHT` + 1) × `READ_PART` bytes held per download.
const PARTS_IN_FLIGHT: usize = 2;
/// Chunk size for local files.
const FILE_CHUNK: u64 = 1 << 20;

/// Reads `range` of a local file into the channel, stopping early when the
/// receiver is gone (client disconnected) or a read fails (the error is sent).
fn read_file(
    file: &std::fs::File,
    range: Range<u64>,
    mut hasher: Option<sha2::Sha256>,
    tx: &tokio::sync::mpsc::Sender<Result<Piece>>,
) {
    use std::os::unix::fs::FileExt;
    let mut pos = range.start;
    while pos < range.end {
        let n = (range.end - pos).min(FILE_CHUNK) as usize;
        let mut buf = vec![0u8; n];
        let item = file
            .read_exact_at(&mut buf, pos)
            .map(|()| {
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf);
                }
                Piece::Bytes(Bytes::from(buf))
            })
            .map_err(Error::internal);
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
        pos += n as u64;
    }
    if let Some(h) = hasher {
        let _ = tx.blocking_send(Ok(Piece::Hashed(digest_of(h))));
    }
}

/// Asks for `range` of an object (the response's headers).
async fn get_part(
    inner: Arc<dyn ObjectStore>,
    path: Path,
    range: Range<u64>,
) -> Result<object_store::GetResult> {
    let opts = GetOptions {
        range: Some(GetRange::Bounded(range)),
        ..Default::default()
    };
    Ok(inner.get_opts(&path, opts).await?)
}

/// The bytes of a ranged GET, as the chunks they arrived in; an error when
/// fewer came than were asked for (an object shorter than recorded).
async fn part_bytes(got: object_store::GetResult) -> Result<Vec<Bytes>> {
    let want = got.range.end - got.range.start;
    let chunks: Vec<Bytes> = got.into_stream().try_collect().await?;
    if chunks.iter().map(|c| c.len() as u64).sum::<u64>() != want {
        return Err(Error::internal(anyhow::anyhow!("a part came back short")));
    }
    Ok(chunks)
}

/// What a reader sends: the bytes, then (when asked to hash) their digest.
enum Piece {
    Bytes(Bytes),
    Hashed(Sha256),
}

fn digest_of(h: sha2::Sha256) -> Sha256 {
    Sha256::from_bytes(h.finalize().into())
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

/// Passes on the bytes a hashing reader sends, holding the last chunk back
/// until the reader's digest of all of them is in and matches `digest` (and
/// their count `size`).
fn verify(
    pieces: tokio::sync::mpsc::Receiver<Result<Piece>>,
    size: u64,
    digest: Sha256,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        pieces: tokio::sync::mpsc::Receiver<Result<Piece>>,
        seen: u64,
        held: Option<Bytes>,
        done: bool,
    }
    let state = State {
        pieces,
        seen: 0,
        held: None,
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.pieces.recv().await {
                Some(Ok(Piece::Bytes(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    st.seen += chunk.len() as u64;
                    if let Some(prev) = st.held.replace(chunk) {
                        return Some((Ok(prev), st));
                    }
                }
                Some(Ok(Piece::Hashed(actual))) => {
                    st.done = true;
                    if st.seen != size || actual != digest {
                        integrity_failure(size, st.seen, digest, actual);
                        return Some((Err(Error::internal(anyhow::anyhow!("integrity"))), st));
                    }
                    return st.held.take().map(|last| (Ok(last), st));
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                // The reader stopped without a digest: it failed and said so.
                None => {
                    st.done = true;
                    return Some((
                        Err(Error::internal(anyhow::anyhow!("the read ended early"))),
                        st,
                    ));
                }
            }
        }
    })
    .boxed()
}

/// Logs and counts stored bytes that do not match what was recorded.
fn integrity_failure(size: u64, seen: u64, digest: Sha256, actual: Sha256) {
    tracing::error!(
        expected_size = size,
        actual_size = seen,
        expected = %digest,
        actual = %actual,
        "stored bytes do not match the recorded digest; download aborted"
    );
    crate::metrics::integrity_failure();
}

/// Logs and counts a stored object whose length is not the recorded size, and
/// answers the error its download is refused with (before any header or byte).
fn length_mismatch(size: u64, stored: u64) -> Error {
    tracing::error!(
        expected_size = size,
        actual_size = stored,
        "a stored object's length does not match the recorded size; download aborted"
    );
    crate::metrics::integrity_failure();
    Error::internal(anyhow::anyhow!("integrity"))
}

/// Checks `inner` (the bytes of `aligned`, whole blocks of a file of `size`
/// bytes) block by block against `blocks`, and yields only the part of each
/// checked block inside `wanted`.
fn verify_blocks(
    inner: BoxStream<'static, Result<Bytes>>,
    aligned: Range<u64>,
    wanted: Range<u64>,
    size: u64,
    blocks: Blocks,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        inner: BoxStream<'static, Result<Bytes>>,
        /// Offset in the file of the block being gathered.
        at: u64,
        block: bytes::BytesMut,
        blocks: Blocks,
        size: u64,
        end: u64,
        wanted: Range<u64>,
        done: bool,
    }
    let st = State {
        inner,
        at: aligned.start,
        block: bytes::BytesMut::new(),
        blocks,
        size,
        end: aligned.end,
        wanted,
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let block_len = (st.end - st.at).min(BLOCK) as usize;
            if st.block.len() >= block_len {
                let block = st.block.split_to(block_len).freeze();
                if !st.blocks.check(st.at / BLOCK, st.size, &block) {
                    st.done = true;
                    tracing::error!(
                        block_at = st.at,
                        "a stored block does not match what was recorded of it; range aborted"
                    );
                    crate::metrics::integrity_failure();
                    return Some((Err(Error::internal(anyhow::anyhow!("integrity"))), st));
                }
                let from = st.wanted.start.max(st.at) - st.at;
                let to = st.wanted.end.min(st.at + block_len as u64) - st.at;
                st.at += block_len as u64;
                st.done = st.at >= st.end;
                return Some((Ok(block.slice(from as usize..to as usize)), st));
            }
            match st.inner.next().await {
                Some(Ok(chunk)) => st.block.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    // Fewer bytes stored than recorded.
                    st.done = true;
                    tracing::error!(block_at = st.at, "a stored object is shorter than recorded");
                    crate::metrics::integrity_failure();
                    return Some((Err(Error::internal(anyhow::anyhow!("integrity"))), st));
                }
            }
        }
    })
    .boxed()
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

    fn digests(data: &[u8]) -> Vec<u8> {
        data.chunks(BLOCK as usize)
            .flat_map(|c| sha2::Sha256::digest(c).to_vec())
            .collect()
    }

    async fn ranged(data: &[u8], blocks: Blocks, wanted: Range<u64>) -> Result<Vec<u8>> {
        let size = data.len() as u64;
        let first = wanted.start / BLOCK;
        let aligned = first * BLOCK..(wanted.end.div_ceil(BLOCK) * BLOCK).min(size);
        let bytes = Bytes::copy_from_slice(&data[aligned.start as usize..aligned.end as usize]);
        let inner = futures::stream::iter(
            bytes
                .chunks(700_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
        .boxed();
        let mut out = Vec::new();
        let mut s = verify_blocks(inner, aligned, wanted, size, blocks);
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn ranges_come_out_exact_and_checked() {
        let data: Vec<u8> = (0..(BLOCK as usize * 3 + 99))
            .map(|i| (i % 253) as u8)
            .collect();
        let size = data.len() as u64;
        let mut chained = chain::Chained::default();
        chained.feed(&data);
        let (sha256, values) = chained.finish();
        for blocks in [
            Blocks::Digests(digests(&data)),
            Blocks::Chain { values, sha256 },
        ] {
            ranges_of(&data, size, blocks).await;
        }
    }

    async fn ranges_of(data: &[u8], size: u64, blocks: Blocks) {
        for r in [
            0..1,
            5..BLOCK + 5,
            BLOCK..2 * BLOCK,
            size - 10..size,
            0..size,
            3 * BLOCK..size,
        ] {
            let got = ranged(data, blocks.clone(), r.clone()).await.unwrap();
            assert_eq!(got, &data[r.start as usize..r.end as usize], "{r:?}");
        }
        // One flipped byte in a block the range touches fails it; elsewhere not.
        let mut tampered = data.to_vec();
        tampered[(BLOCK + 10) as usize] ^= 1;
        assert!(
            ranged(&tampered, blocks.clone(), BLOCK + 5..BLOCK + 6)
                .await
                .is_err()
        );
        assert!(ranged(&tampered, blocks.clone(), 0..5).await.is_ok());
        // The last block, checked against the file's digest.
        let mut tampered = data.to_vec();
        tampered[size as usize - 1] ^= 1;
        assert!(
            ranged(&tampered, blocks.clone(), size - 5..size)
                .await
                .is_err()
        );
        assert!(ranged(&tampered, blocks, BLOCK..BLOCK + 1).await.is_ok());
    }
}

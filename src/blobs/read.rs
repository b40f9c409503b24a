//! Reading objects: streamed with read-ahead, whole files checked against their
//! digest before the last chunk leaves, ranges checked block by block.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt};
use sha2::Digest;
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;

use super::*;
use crate::error::{Error, Result};
use crate::names::Sha256;

impl BlobStore {
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
        // The first block is checked before the answer starts: bytes that
        // fail it are refused with a status, not a connection cut short.
        let mut checked = verify_blocks(inner, aligned, range, size, blocks);
        let first = match checked.next().await {
            Some(Err(e)) => return Err(e),
            first => first,
        };
        Ok(futures::stream::iter(first).chain(checked).boxed())
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
            return Err(Error::Integrity);
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
pub(super) const READ_AHEAD: usize = 8;
/// A ranged GET of a long read from a remote store (`start_read_parts`).
pub(super) const READ_PART: u64 = 8 << 20;
/// Ranged GETs in flight for one read: with the one being sent, at most
/// (`PARTS_IN_FLIGHT` + 1) × `READ_PART` bytes held per download.
pub(super) const PARTS_IN_FLIGHT: usize = 2;
/// Chunk size for local files.
pub(super) const FILE_CHUNK: u64 = 1 << 20;

/// Reads `range` of a local file into the channel, stopping early when the
/// receiver is gone (client disconnected) or a read fails (the error is sent).
pub(super) fn read_file(
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
pub(super) async fn get_part(
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
pub(super) async fn part_bytes(got: object_store::GetResult) -> Result<Vec<Bytes>> {
    let want = got.range.end - got.range.start;
    let chunks: Vec<Bytes> = got.into_stream().try_collect().await?;
    if chunks.iter().map(|c| c.len() as u64).sum::<u64>() != want {
        return Err(Error::internal(anyhow::anyhow!("a part came back short")));
    }
    Ok(chunks)
}

/// What a reader sends: the bytes, then (when asked to hash) their digest.
pub(super) enum Piece {
    Bytes(Bytes),
    Hashed(Sha256),
}

//! Resumable uploads: a large file sent over several requests, each appending
//! parts at the offset the session has committed, so an interrupted transfer
//! goes on from there instead of starting over.
//!
//! Invariants: a part is committed only after its bytes are stored (parts are
//! committed in batches); the SHA-256 state after the committed bytes is
//! kept with them, so completion knows the file's digest without reading it
//! again; nothing is visible until completion records the file, in one
//! transaction with marking the session complete. Requests for one session take
//! turns within a process, and each part's commit checks the offset it started
//! from, so across replicas a part commits once.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures::{Stream, StreamExt};
use sha2::Digest;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use uuid::Uuid;

use super::Registry;
use crate::auth::{Permit, Publish};
use crate::blobs::{BLOCK, BlobKey, BlobStore, PART, PartsOf, Written, chain_value};
use crate::error::{Error, Result};
use crate::limits::floored;
use crate::names::{FilePath, ModelName, Sha256, VersionNumber};
use crate::store::{
    FileRecord, PartCommit, Pending, UploadPart, UploadRecord, Uploads, VersionRecord,
};

/// A session as its client sees it.
pub use crate::store::UploadRecord as Upload;

/// One turn per session at a time within this process: a request that finds
/// the session busy (a retry racing the request it replaces) waits for it.
#[derive(Default)]
pub(super) struct Turns(std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>);

struct Turn<'a> {
    turns: &'a Turns,
    id: Uuid,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turns {
    async fn take(&self, id: Uuid) -> Turn<'_> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone();
        let guard = Some(lock.clone().lock_owned().await);
        Turn {
            turns: self,
            id,
            lock,
            guard,
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.turns.0.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and ours: nobody else waits for this session.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.id);
        }
    }
}

/// How long a stored part may wait for its commit.
const COMMIT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// How many stored bytes may wait for a commit.
const COMMIT_BYTES: u64 = 64 << 20;

/// Stored parts waiting for their commit.
#[derive(Default)]
struct Batch {
    /// Where the first starts (none: nothing waits).
    from: Option<u64>,
    /// Where the last ends.
    to: u64,
    parts: Vec<UploadPart>,
    /// The SHA-256 state at `to`.
    hash_state: Option<Vec<u8>>,
}

/// A stored part on its way to its commit.
struct Stored {
    from: u64,
    to: u64,
    part: UploadPart,
    hash_state: Vec<u8>,
}

/// A received part on its way to storage: the chunks it arrived in (not
/// copied into one buffer).
struct Received {
    from: u64,
    data: Vec<Bytes>,
    len: u64,
    hash_state: Vec<u8>,
    /// The file's SHA-256 chaining value at each block boundary inside the part
    /// and at its end.
    chain: Vec<u8>,
}

fn resume_hash(u: &UploadRecord) -> Result<sha2::Sha256> {
    match &u.hash_state {
        None => Ok(sha2::Sha256::new()),
        Some(state) => {
            let state =
                SerializedState::<sha2::Sha256>::try_from(state.as_slice()).map_err(|_| {
                    Error::internal(anyhow::anyhow!("a stored hash state is malformed"))
                })?;
            sha2::Sha256::deserialize(&state).map_err(|_| {
                Error::internal(anyhow::anyhow!("a stored hash state does not restore"))
            })
        }
    }
}

// A part is whole blocks: the chaining values of its boundaries are its own.
const _: () = assert!(PART.is_multiple_of(BLOCK));

/// The file's chaining values from its parts' (the one at its very end left
/// out: the digest checks the last block); None when a part stored before they
/// were kept has none (the file then gets them on its first ranged read).
fn chain_of_parts(parts: &[UploadPart], size: u64) -> Option<Vec<u8>> {
    let mut chain = Vec::new();
    for p in parts {
        chain.extend_from_slice(p.chain.as_deref()?);
    }
    chain.truncate(32 * usize::try_from(size.div_ceil(BLOCK).saturating_sub(1)).ok()?);
    Some(chain)
}

/// Where an append goes: a version's upload session, and the offset its bytes
/// start at, with the length the client declared (if it did).
pub struct AppendAt<'a> {
    pub model: &'a ModelName,
    pub version: VersionNumber,
    pub upload: Uuid,
    pub offset: u64,
    pub declared_len: Option<u64>,
}

/// The refusal of bytes past an upload's declared size.
fn too_many(size: u64) -> Error {
    Error::invalid(format!(
        "more bytes than the upload's declared size of {size}"
    ))
}

/// The receiving stage: the body, from `at` on, hashed as it arrives and cut
/// into whole parts, each handed on as it fills; a shorter last part only when
/// it ends the file. Pieces end at block boundaries (a part is whole blocks,
/// and parts start at part boundaries), where the hasher's chaining value is
/// kept.
async fn receive<S>(
    mut body: S,
    mut hasher: sha2::Sha256,
    mut at: u64,
    size: u64,
    parts: tokio::sync::mpsc::Sender<Received>,
) -> Result<()>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let (mut pieces, mut len, mut chain) = (Vec::new(), 0u64, Vec::new());
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk?;
        if at + len + chunk.len() as u64 > size {
            return Err(too_many(size));
        }
        while !chunk.is_empty() {
            let take = usize::try_from(BLOCK - len % BLOCK)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            let piece = chunk.split_to(take);
            hasher.update(&piece);
            len += piece.len() as u64;
            pieces.push(piece);
            if len.is_multiple_of(BLOCK) {
                chain.extend_from_slice(&chain_value(&hasher));
            }
            if len == PART {
                let part = Received {
                    from: at,
                    data: std::mem::take(&mut pieces),
                    len,
                    hash_state: hasher.serialize().to_vec(),
                    chain: std::mem::take(&mut chain),
                };
                at += PART;
                len = 0;
                if parts.send(part).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if len > 0 && at + len == size {
        let part = Received {
            from: at,
            data: pieces,
            len,
            hash_state: hasher.serialize().to_vec(),
            chain,
        };
        let _ = parts.send(part).await;
    }
    Ok(())
}

fn offset_of(u: &UploadRecord) -> u64 {
    u64::try_from(u.committed).unwrap_or(0)
}

impl Registry {
    /// Starts a resumable upload of a file of `size` bytes into a draft version.
    pub async fn start_upload(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        path: &FilePath,
        size: u64,
    ) -> Result<Upload> {
        path.check_portable()?;
        // The declared size breaks a rule of the request (the body itself is
        // small): 400, not 413.
        let limit = self.bounds.max_file_size;
        if size > limit {
            return Err(Error::invalid(format!(
                "size exceeds the largest file accepted, {limit} bytes"
            )));
        }
        let v = self.version(permit, name, number).await?;
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let (id, blob_id) = (Uuid::new_v4(), Uuid::new_v4());
        permit.record("path", serde_json::json!(path.as_str()));
        permit.record("size", serde_json::json!(size));
        let multipart_id = self.blobs.begin_parts(id, blob_id).await?;
        let now = Utc::now().timestamp();
        let u = UploadRecord {
            id,
            version_id: v.id,
            path: path.clone(),
            size: i64::try_from(size).map_err(Error::internal)?,
            blob_id,
            multipart_id,
            committed: 0,
            hash_state: None,
            created_by: permit.by().clone(),
            created_at: now,
            expires_at: now + self.upload_ttl_secs(),
            completed: false,
        };
        let created = self
            .uploads
            .create_upload(&u, self.bounds.max_files, &permit.pending())
            .await;
        if let Err(e) = created {
            let _ = self.blobs.abort_parts(parts_of(&u)).await;
            return Err(e);
        }
        Ok(u)
    }

    /// A session of this version, as committed now.
    pub async fn upload_status(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        id: Uuid,
    ) -> Result<Upload> {
        let v = self.version(permit, name, number).await?;
        self.session(&v, id).await
    }

    /// Appends the bytes of `body` at `offset`, which must be the session's
    /// committed offset. Every whole part received is stored as it completes and
    /// committed within a second, so an interrupted request keeps what arrived
    /// whole; a tail shorter than a part is kept only when it ends the file. A
    /// declared length past the file's size is refused before anything is read.
    /// Answers the session as committed afterwards.
    pub async fn append_upload<S, E>(
        &self,
        permit: &Permit<Publish>,
        at: AppendAt<'_>,
        body: S,
    ) -> Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let v = self.version(permit, at.model, at.version).await?;
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let _turn = self.turns.take(at.upload).await;
        let u = self.session(&v, at.upload).await?;
        if u.completed {
            return Err(Error::Conflict("the upload is already complete".into()));
        }
        permit.record("offset", serde_json::json!(at.offset));
        if at.offset != offset_of(&u) {
            return Err(Error::UploadOffsetMismatch {
                offset: offset_of(&u),
            });
        }
        let size = u64::try_from(u.size).map_err(Error::internal)?;
        if at
            .declared_len
            .is_some_and(|n| at.offset.saturating_add(n) > size)
        {
            return Err(too_many(size));
        }
        let hasher = resume_hash(&u)?;
        let body = floored(self.bounds.upload_floor, body);
        // Three stages at once: part n is committed while n + 1 is stored and
        // n + 2 arrives. Each stage owns the receiver of the one before it:
        // when a stage stops (an error), the one feeding it wakes and stops.
        let (received_tx, received_rx) = tokio::sync::mpsc::channel::<Received>(1);
        let (stored_tx, stored_rx) = tokio::sync::mpsc::unbounded_channel::<Stored>();
        let (received, stored, committed) = tokio::join!(
            receive(body, hasher, at.offset, size, received_tx),
            self.store_received(&u, received_rx, stored_tx),
            self.commit_stored(at.upload, stored_rx),
        );
        // What was stored before a failure is committed all the same.
        let committed = committed?;
        permit.record("committed", serde_json::json!(committed.committed));
        stored?;
        received?;
        Ok(committed)
    }

    /// The storing stage: each received part is stored, then handed on to be
    /// committed.
    async fn store_received(
        &self,
        u: &UploadRecord,
        mut received: tokio::sync::mpsc::Receiver<Received>,
        stored: tokio::sync::mpsc::UnboundedSender<Stored>,
    ) -> Result<()> {
        while let Some(p) = received.recv().await {
            let part = self.store_part(u, &p).await?;
            let done = Stored {
                from: p.from,
                to: p.from + p.len,
                part,
                hash_state: p.hash_state,
            };
            if stored.send(done).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// The committing stage: stored parts are committed together, a second
    /// after the first of them was stored or once 64 MiB wait, and when the
    /// request ends (a commit per part would make every 8 MiB wait for the
    /// database to reach the disk). Parts go on being received and stored while
    /// a commit waits for the database; what a broken request stored but did
    /// not commit is sent again. Answers the session as committed.
    async fn commit_stored(
        &self,
        id: Uuid,
        mut stored: tokio::sync::mpsc::UnboundedReceiver<Stored>,
    ) -> Result<Upload> {
        let mut batch = Batch::default();
        let mut due = tokio::time::Instant::now();
        loop {
            let next = if batch.from.is_none() {
                stored.recv().await
            } else {
                match tokio::time::timeout_at(due, stored.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.commit_parts(id, &mut batch).await?;
                        continue;
                    }
                }
            };
            let Some(p) = next else { break };
            if batch.from.is_none() {
                batch.from = Some(p.from);
                due = tokio::time::Instant::now() + COMMIT_AFTER;
            }
            batch.to = p.to;
            batch.parts.push(p.part);
            batch.hash_state = Some(p.hash_state);
            if batch.parts.len() as u64 * PART >= COMMIT_BYTES {
                self.commit_parts(id, &mut batch).await?;
            }
        }
        self.commit_parts(id, &mut batch).await?;
        self.uploads.get_upload(id).await
    }

    /// Stores one part; answers it for the commit that records it.
    async fn store_part(&self, u: &UploadRecord, p: &Received) -> Result<UploadPart> {
        let number = p.from / PART + 1;
        let etag = self
            .blobs
            .write_part(parts_of(u), number, p.from, p.data.clone())
            .await?;
        Ok(UploadPart {
            number: i64::try_from(number).map_err(Error::internal)?,
            etag,
            blocks: Vec::new(),
            chain: Some(p.chain.clone()),
        })
    }

    /// Records stored parts: the session moves on to the end of the last.
    async fn commit_parts(&self, id: Uuid, batch: &mut Batch) -> Result<()> {
        let (Some(from), Some(state)) = (batch.from, batch.hash_state.take()) else {
            return Ok(());
        };
        self.uploads
            .commit_parts(
                id,
                &PartCommit {
                    from: i64::try_from(from).map_err(Error::internal)?,
                    to: i64::try_from(batch.to).map_err(Error::internal)?,
                    parts: std::mem::take(&mut batch.parts),
                    hash_state: state,
                    expires_at: Utc::now().timestamp() + self.upload_ttl_secs(),
                },
            )
            .await?;
        batch.from = None;
        Ok(())
    }

    /// Completes a session whose bytes all arrived: checks them against
    /// `sha256`, makes them the file at the session's path, and records it.
    /// A digest that does not match discards the session. Completing a session
    /// again answers the file it became.
    pub async fn complete_upload(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        id: Uuid,
        sha256: Sha256,
    ) -> Result<FileRecord> {
        let v = self.version(permit, name, number).await?;
        let _turn = self.turns.take(id).await;
        let u = self.session(&v, id).await?;
        if u.completed {
            let files = self.models.files_of(v.id).await?;
            return match files.into_iter().find(|f| f.blob_id == u.blob_id) {
                Some(f) if f.sha256 == sha256 => Ok(f),
                Some(_) => Err(Error::DigestMismatch),
                None => Err(Error::Conflict(
                    "the upload completed, and its file was replaced or removed since".into(),
                )),
            };
        }
        if v.is_sealed() {
            return Err(Error::VersionSealed);
        }
        let size = u64::try_from(u.size).map_err(Error::internal)?;
        if offset_of(&u) != size {
            return Err(Error::UploadIncomplete {
                offset: offset_of(&u),
                size,
            });
        }
        let actual = Sha256::from_bytes(resume_hash(&u)?.finalize().into());
        if actual != sha256 {
            self.discard(&u, &Pending::system()).await?;
            return Err(Error::DigestMismatch);
        }
        let parts = self.uploads.upload_parts(id).await?;
        let chain = chain_of_parts(&parts, size);
        let etags = parts.into_iter().map(|p| p.etag).collect();
        self.blobs.finish_parts(parts_of(&u), etags, size).await?;
        let written = Written {
            id: u.blob_id,
            size,
            sha256: actual,
            chain,
        };
        let recorded = async {
            let found = self.inspect(&u.path, &written).await?;
            let file = super::files::file_record(&u.path, &written, found)?;
            self.uploads
                .complete_upload(id, v.id, &file, self.bounds.max_files, &permit.pending())
                .await?;
            Ok(file)
        }
        .await;
        match recorded {
            Ok(file) => {
                crate::metrics::uploaded(size);
                Ok(file)
            }
            // The database may come back: a retried completion finds the
            // artifact in place and records it then.
            Err(e @ (Error::Unavailable(_) | Error::Internal(_))) => Err(e),
            // Refused (a clash, the version sealed, a bad format): the bytes are
            // no use to anyone.
            Err(e) => {
                let _ = self.blobs.delete(BlobKey::Artifact(u.blob_id)).await;
                let _ = self.uploads.delete_upload(id, &Pending::system()).await;
                Err(e)
            }
        }
    }

    /// Abandons a session: its parts are discarded and it is forgotten.
    pub async fn abort_upload(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        id: Uuid,
    ) -> Result<()> {
        let v = self.version(permit, name, number).await?;
        let _turn = self.turns.take(id).await;
        let u = self.session(&v, id).await?;
        self.discard(&u, &permit.pending()).await
    }

    async fn discard(&self, u: &UploadRecord, audit: &Pending) -> Result<()> {
        discard(&*self.uploads, &self.blobs, u, audit).await
    }

    /// The session `id` of version `v`, unless it expired.
    async fn session(&self, v: &VersionRecord, id: Uuid) -> Result<UploadRecord> {
        let u = self.uploads.get_upload(id).await?;
        if u.version_id != v.id || (!u.completed && u.expires_at < Utc::now().timestamp()) {
            return Err(Error::NotFound);
        }
        Ok(u)
    }

    fn upload_ttl_secs(&self) -> i64 {
        i64::try_from(self.bounds.upload_session_ttl.as_secs()).unwrap_or(i64::MAX / 2)
    }
}

/// Forgets a session, after discarding its parts unless it completed.
async fn discard(
    uploads: &dyn Uploads,
    blobs: &BlobStore,
    u: &UploadRecord,
    audit: &Pending,
) -> Result<()> {
    if !u.completed {
        blobs.abort_parts(parts_of(u)).await?;
    }
    uploads.delete_upload(u.id, audit).await
}

/// Removes the sessions that expired, their parts first; answers how many.
pub async fn expire(uploads: &dyn Uploads, blobs: &BlobStore) -> Result<u64> {
    let mut removed = 0;
    loop {
        let expired = uploads.expired_uploads(Utc::now().timestamp(), 256).await?;
        if expired.is_empty() {
            return Ok(removed);
        }
        for u in &expired {
            match discard(uploads, blobs, u, &Pending::system()).await {
                Ok(()) | Err(Error::NotFound) => removed += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

fn parts_of(u: &UploadRecord) -> PartsOf<'_> {
    PartsOf {
        session: u.id,
        blob: u.blob_id,
        multipart_id: u.multipart_id.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::Blocks;

    /// The parts of `data` as a session records them: each with the chaining
    /// values at the block boundaries inside it and at its end.
    fn parts(data: &[u8]) -> Vec<UploadPart> {
        let mut hasher = sha2::Sha256::new();
        data.chunks(PART as usize)
            .zip(1..)
            .map(|(part, number)| {
                let mut chain = Vec::new();
                for block in part.chunks(BLOCK as usize) {
                    hasher.update(block);
                    if block.len() as u64 == BLOCK {
                        chain.extend_from_slice(&chain_value(&hasher));
                    }
                }
                UploadPart {
                    number,
                    etag: None,
                    blocks: Vec::new(),
                    chain: Some(chain),
                }
            })
            .collect()
    }

    #[test]
    fn a_files_chain_from_its_parts_checks_every_block() {
        let (part, block) = (PART as usize, BLOCK as usize);
        for len in [
            1,
            block,
            part,
            part + 1,
            2 * part,
            2 * part - 5,
            2 * part + block,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
            let values = chain_of_parts(&parts(&data), len as u64).unwrap();
            let blocks = Blocks::Chain {
                values,
                sha256: crate::names::Sha256::from_bytes(sha2::Sha256::digest(&data).into()),
            };
            assert!(blocks.cover(len as u64), "{len}");
            for (i, b) in data.chunks(block).enumerate() {
                assert!(blocks.check(i as u64, len as u64, b), "{len}: block {i}");
            }
        }
    }

    #[test]
    fn a_part_stored_without_chaining_values_leaves_the_file_without() {
        let data = vec![7u8; PART as usize + 10];
        let mut parts = parts(&data);
        parts[0].chain = None;
        parts[0].blocks = vec![0; 64];
        assert_eq!(chain_of_parts(&parts, data.len() as u64), None);
    }
}

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

use chrono::Utc;
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

mod append;

pub use append::AppendAt;

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
mod tests;

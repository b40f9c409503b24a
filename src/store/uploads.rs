//! Resumable upload sessions: a file received in parts over several requests,
//! visible only once complete.

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::Result;
use crate::names::{FilePath, PrincipalName};
use crate::store::{FileRecord, Pending};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRecord {
    pub id: Uuid,
    pub version_id: Uuid,
    pub path: FilePath,
    /// The file's size, declared when the session started.
    pub size: i64,
    /// The artifact object the parts become.
    pub blob_id: Uuid,
    /// The storage's multipart upload, when it has one.
    pub multipart_id: Option<String>,
    /// Bytes received and stored in committed parts.
    pub committed: i64,
    /// The SHA-256 state after the committed bytes (none before the first part).
    pub hash_state: Option<Vec<u8>>,
    pub created_by: PrincipalName,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Seconds since the Unix epoch; each committed part moves it on.
    pub expires_at: i64,
    pub completed: bool,
}

/// One committed part of a session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadPart {
    /// 1-based, in offset order.
    pub number: i64,
    /// What the storage answered for it (S3's ETag).
    pub etag: Option<String>,
    /// SHA-256 of each 4 MiB block of the part, concatenated, for parts stored
    /// before chaining values were recorded (migration 0020); empty since.
    pub blocks: Vec<u8>,
    /// The file's SHA-256 chaining value at each 4 MiB boundary inside the part
    /// and at its end; None for parts stored before they were recorded.
    pub chain: Option<Vec<u8>>,
}

/// Stored parts to commit: the bytes `from..to` of the file.
#[derive(Debug, Clone)]
pub struct PartCommit {
    pub from: i64,
    pub to: i64,
    /// In order, covering `from..to`.
    pub parts: Vec<UploadPart>,
    /// The SHA-256 state after byte `to`.
    pub hash_state: Vec<u8>,
    pub expires_at: i64,
}

#[async_trait]
pub trait Uploads: Send + Sync {
    /// Starts a session on a draft version; refuses with `VersionSealed` once
    /// it is sealed and with `TooManyUploads` past `max_open` open sessions.
    async fn create_upload(&self, u: &UploadRecord, max_open: usize, audit: &Pending)
    -> Result<()>;
    async fn get_upload(&self, id: Uuid) -> Result<UploadRecord>;
    /// Records stored parts, only while the session's committed offset is
    /// still `from` (else `UploadOffsetMismatch` with the offset it is at).
    async fn commit_parts(&self, id: Uuid, c: &PartCommit) -> Result<()>;
    /// The committed parts, in order.
    async fn upload_parts(&self, id: Uuid) -> Result<Vec<UploadPart>>;
    /// Records the completed file (as `Models::put_file` does) and marks the
    /// session complete, in one transaction.
    async fn complete_upload(
        &self,
        id: Uuid,
        version_id: Uuid,
        file: &FileRecord,
        max_files: usize,
        audit: &Pending,
    ) -> Result<()>;
    /// Forgets a session and its parts.
    async fn delete_upload(&self, id: Uuid, audit: &Pending) -> Result<()>;
    /// Sessions that expired before `now` (seconds since the Unix epoch).
    async fn expired_uploads(&self, now: i64, limit: i64) -> Result<Vec<UploadRecord>>;
}

//! Models, their versions and the files of each version.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::kinds::{FileFormat, VersionState};
use crate::names::{
    AliasName, CommitId, FilePath, ModelName, ModelRef, Namespace, PrincipalName, Sha256,
    VersionNumber,
};
use crate::store::{Pending, SignatureRecord, Visibility};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ModelRecord {
    pub id: Uuid,
    pub namespace: Namespace,
    pub name: ModelName,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
    pub latest_version: Option<VersionNumber>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRecord {
    pub id: Uuid,
    pub namespace: Namespace,
    pub model: ModelName,
    pub version: VersionNumber,
    pub state: VersionState,
    pub lineage: sqlx::types::Json<Value>,
    pub metadata: sqlx::types::Json<Value>,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
    pub sealed_at: Option<DateTime<Utc>>,
    pub root_digest: Option<Sha256>,
    /// Where a CI job that published with a publisher token ran (issuer,
    /// repository, workflow, commit, run); none for any other version.
    pub provenance: Option<sqlx::types::Json<Value>>,
}

impl VersionRecord {
    pub fn is_sealed(&self) -> bool {
        self.state == VersionState::Sealed
    }

    /// `namespace/model` of this version.
    pub fn model_ref(&self) -> ModelRef {
        ModelRef {
            namespace: self.namespace.clone(),
            name: self.model.clone(),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRecord {
    pub path: FilePath,
    pub size: i64,
    pub sha256: Sha256,
    pub blob_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Recognised from the bytes.
    pub format: FileFormat,
    /// Why the bytes were recognised as that format.
    pub format_reason: String,
    /// SHA-256 of each 4 MiB block, concatenated; recorded for files stored
    /// before their chaining values were (migration 0010 to 0019), None since.
    pub block_digests: Option<Vec<u8>>,
    /// The file's SHA-256 chaining value at each 4 MiB boundary before its end,
    /// concatenated (`blobs::Blocks::Chain`); None for files stored before they
    /// were recorded, until a range of one is first asked for.
    pub sha256_chain: Option<Vec<u8>>,
}

/// A version, its files by path, its model's aliases that point at it (by
/// name), and its signatures as received with the trust epoch read beside them
/// (as `Keys::signatures_at` gives them).
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub version: VersionRecord,
    pub files: Vec<FileRecord>,
    pub aliases: Vec<AliasName>,
    pub signatures: Vec<SignatureRecord>,
    pub trust_epoch: i64,
    /// The access epoch of the same snapshot (see `Tokens::credential`).
    pub access_epoch: i64,
}

/// A new draft version, before the store gives it a number.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: Uuid,
    pub lineage: Value,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
    /// The CI provenance of a version a publisher token creates.
    pub provenance: Option<Value>,
    /// Indexed copies of the lineage, for lineage queries and quarantine.
    pub code_commit: Option<CommitId>,
    pub datasets: Vec<Sha256>,
    /// Ids of the (sealed) parent versions.
    pub parents: Vec<Uuid>,
}

/// Computes the root digest of a sealed file set; the store calls it inside the
/// sealing transaction so the digest covers exactly the files that were sealed.
pub type RootFn = dyn Fn(&[FileRecord]) -> Sha256 + Send + Sync;

#[async_trait]
pub trait Models: Send + Sync {
    async fn create_model(&self, m: &ModelRecord, audit: &Pending) -> Result<()>;
    async fn get_model(&self, model: &ModelRef) -> Result<ModelRecord>;
    /// Models ordered by (namespace, name), after the given pair.
    async fn list_models(
        &self,
        vis: &Visibility,
        namespace: Option<&Namespace>,
        after: (&str, &str),
        limit: i64,
    ) -> Result<Vec<ModelRecord>>;
    /// The models of this name the visibility reaches, by namespace (at most
    /// `limit`).
    async fn models_named(
        &self,
        vis: &Visibility,
        name: &ModelName,
        limit: i64,
    ) -> Result<Vec<ModelRecord>>;
    /// Allocates the next version number of the model and inserts a draft, in one
    /// transaction, so numbers are gap-free and never reused.
    async fn create_version(
        &self,
        model: &ModelRef,
        v: &NewVersion,
        audit: &Pending,
    ) -> Result<VersionRecord>;
    async fn get_version(&self, model: &ModelRef, version: VersionNumber) -> Result<VersionRecord>;
    /// Versions newest first, with numbers below `before`.
    async fn list_versions(
        &self,
        model: &ModelRef,
        before: i64,
        limit: i64,
    ) -> Result<Vec<VersionRecord>>;
    /// How many signatures each version of [`Models::list_versions`] (same
    /// arguments) holds, as (version number, count).
    async fn signature_counts(
        &self,
        model: &ModelRef,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(VersionNumber, i64)>>;
    async fn files_of(&self, version_id: Uuid) -> Result<Vec<FileRecord>>;
    /// A version with its files, the aliases that point at it, its signatures,
    /// the trust epoch and the access epoch, in one statement (what a read of a
    /// version needs, and what confirms a kept credential of its reader).
    async fn get_version_entry(
        &self,
        model: &ModelRef,
        version: VersionNumber,
    ) -> Result<VersionEntry>;
    /// Records (or replaces) a file of a draft version. Refuses with `VersionSealed`
    /// when the version was sealed meanwhile, and with `Conflict` when the path
    /// clashes with another (`FilePath::clash`: a file and a directory at once,
    /// or two spellings that differ only in case).
    /// Refuses with `TooManyFiles` a new path when the version already holds
    /// `max_files` files (replacing one is always allowed).
    async fn put_file(
        &self,
        version_id: Uuid,
        f: &FileRecord,
        max_files: usize,
        audit: &Pending,
    ) -> Result<()>;
    async fn delete_file(&self, version_id: Uuid, path: &FilePath, audit: &Pending) -> Result<()>;
    /// Records the chaining values of a file stored before they were recorded
    /// (computed after the whole file checked out); a derived record, not a change.
    async fn record_chain(&self, blob_id: Uuid, chain: &[u8]) -> Result<()>;
    /// Seals a draft: freezes its files and records the root digest.
    async fn seal_version(
        &self,
        version_id: Uuid,
        at: DateTime<Utc>,
        root: &RootFn,
        audit: &Pending,
    ) -> Result<VersionRecord>;
}

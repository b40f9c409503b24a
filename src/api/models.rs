//! Namespaces, models, versions and their files.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::lineage::Lineage;
use crate::kinds::SignatureState;
use crate::names::{Description, KeyId, ModelName, Namespace, NewFilePath, Sha256, VersionNumber};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NamespaceView {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NamespaceList {
    pub items: Vec<NamespaceView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    pub namespace: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub latest_version: Option<VersionNumber>,
    /// alias → version
    pub aliases: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    pub items: Vec<ModelView>,
    pub next_cursor: Option<String>,
}

/// A resumable upload as committed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    pub path: String,
    /// The file's size, declared at the start.
    pub size: i64,
    /// Bytes received and committed: the next append starts here.
    pub offset: i64,
    /// Appends commit in parts of this many bytes (the last part of the file
    /// may be shorter); bytes past the last whole part of an append that does
    /// not end the file are not kept.
    pub part_size: u64,
    pub complete: bool,
    /// When the upload is forgotten unless another part arrives (RFC 3339).
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FileView {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    /// `safetensors`, `onnx`, `gguf`, `numpy`, `pickle`, `uninspectable` or
    /// `unknown`, recognised from the bytes' structure.
    pub format: String,
    /// Why the bytes were recognised as that format (empty for files recognised
    /// before reasons were recorded).
    pub format_reason: String,
}

/// A version in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    pub version: i64,
    /// `draft` or `sealed`
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub sealed_at: Option<DateTime<Utc>>,
    pub root_digest: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    pub items: Vec<VersionSummary>,
    pub next_cursor: Option<String>,
}

/// A signature on a version, as a reader sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureView {
    pub keyid: KeyId,
    pub key_name: String,
    pub received_at: DateTime<Utc>,
    pub status: SignatureState,
    /// Verified over the files only (made by `model_signing sign`): it binds the
    /// bytes, not this model, version or lineage, and counts toward an alias only
    /// where the namespace policy lists it in `content_only_aliases`.
    pub content_only: bool,
}

/// A version with its files, lineage and verification state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub namespace: String,
    pub model: String,
    #[serde(flatten)]
    pub summary: VersionSummary,
    #[schema(value_type = Object)]
    pub lineage: Value,
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Where the CI job that created it ran, when a trusted publisher's
    /// token created it (the signed statement covers it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<super::CiProvenance>,
    /// In statement order.
    pub files: Vec<FileView>,
    /// Each stored signature, judged against the keys as they are now: `verified`,
    /// or why it does not count.
    pub signatures: Vec<SignatureView>,
    /// Sealed and signed by at least `min_signatures` trusted keys, now.
    pub verified: bool,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    pub quarantined: bool,
    /// Holds a file that may run code when loaded (pickle-based, or too large or
    /// deep to inspect).
    pub unsafe_formats: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SealView {
    pub version: i64,
    /// Always `sealed`.
    pub state: String,
    pub root_digest: String,
    /// In statement order.
    pub files: Vec<FileView>,
    /// The unsigned in-toto Statement v1 a signer signs.
    #[schema(value_type = Object)]
    pub statement: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespace {
    pub name: Namespace,
    #[serde(default)]
    pub description: Description,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    pub namespace: Namespace,
    pub name: ModelName,
    #[serde(default)]
    pub description: Description,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    #[serde(default)]
    pub lineage: Lineage,
    /// Free-form JSON object, at most 64 KiB.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUpload {
    /// Relative POSIX path of the file in the version.
    pub path: NewFilePath,
    /// The file's size in bytes.
    #[serde(deserialize_with = "crate::names::integral")]
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUpload {
    /// The SHA-256 of the whole file, hex.
    pub sha256: Sha256,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

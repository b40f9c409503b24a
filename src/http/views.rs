//! Answer bodies. Storage ids and keys stay out of every one of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::registry::{FileRecord, ModelRecord, NamespaceRecord, VersionRecord};
use crate::registry::{ModelDetails, Sealed, sorted};
use crate::kinds::SignatureState;
use crate::names::KeyId;
use crate::trust::VersionDetails;

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    pub namespace: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub principal: String,
    pub token_id: Uuid,
    pub roles: Vec<RoleView>,
    pub usage: UsageView,
}

/// The caller's limits and what it has used of them.
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    /// The request rate it gets (its most generous role's); absent when unlimited.
    pub rate: Option<RateView>,
    pub downloads: DownloadsView,
}

#[derive(Serialize, ToSchema)]
pub struct RateView {
    pub per_minute: u32,
    pub burst: u32,
}

/// Downloads in the rolling day (the current hour and the 23 before it),
/// shared by every replica.
#[derive(Serialize, ToSchema)]
pub struct DownloadsView {
    pub window_seconds: u64,
    pub bytes: u64,
    pub files: u64,
    /// The day's allowance in bytes; absent when unlimited.
    pub quota_bytes: Option<u64>,
    /// The day's allowance in files; absent when unlimited.
    pub quota_files: Option<u64>,
}

impl From<crate::auth::Usage> for UsageView {
    fn from(u: crate::auth::Usage) -> Self {
        let d = u.downloads;
        Self {
            rate: u.rate.map(|r| RateView {
                per_minute: r.per_minute.get(),
                burst: r.burst.get(),
            }),
            downloads: DownloadsView {
                window_seconds: d.window_secs,
                bytes: d.bytes,
                files: d.files,
                quota_bytes: d.quota.bytes,
                quota_files: d.quota.files,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NamespaceView {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<NamespaceRecord> for NamespaceView {
    fn from(n: NamespaceRecord) -> Self {
        Self {
            name: n.name.to_string(),
            description: n.description,
            created_at: n.created_at,
            created_by: n.created_by.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NamespaceList {
    pub items: Vec<NamespaceView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    pub namespace: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub latest_version: Option<i64>,
    /// alias → version
    pub aliases: BTreeMap<String, i64>,
}

impl From<ModelRecord> for ModelView {
    fn from(m: ModelRecord) -> Self {
        Self {
            namespace: m.namespace.to_string(),
            name: m.name.to_string(),
            description: m.description,
            created_at: m.created_at,
            created_by: m.created_by.to_string(),
            latest_version: m.latest_version,
            aliases: BTreeMap::new(),
        }
    }
}

impl From<ModelDetails> for ModelView {
    fn from(d: ModelDetails) -> Self {
        Self {
            aliases: d
                .aliases
                .into_iter()
                .map(|(a, v)| (a.to_string(), v.get()))
                .collect(),
            ..d.model.into()
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub items: Vec<ModelView>,
    pub next_cursor: Option<String>,
}

/// A resumable upload as committed.
#[derive(Serialize, ToSchema)]
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

impl From<crate::registry::Upload> for UploadView {
    fn from(u: crate::registry::Upload) -> Self {
        Self {
            id: u.id.to_string(),
            path: u.path.to_string(),
            size: u.size,
            offset: u.committed,
            part_size: crate::registry::UPLOAD_PART,
            complete: u.completed,
            expires_at: chrono::DateTime::from_timestamp(u.expires_at, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

#[derive(Serialize, ToSchema)]
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

impl From<FileRecord> for FileView {
    fn from(f: FileRecord) -> Self {
        Self {
            path: f.path.to_string(),
            size: f.size,
            sha256: f.sha256.to_hex(),
            format: f.format.as_str().to_owned(),
            format_reason: f.format_reason,
        }
    }
}

/// A version in a listing.
#[derive(Serialize, ToSchema)]
pub struct VersionSummary {
    pub version: i64,
    /// `draft` or `sealed`
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub sealed_at: Option<DateTime<Utc>>,
    pub root_digest: Option<String>,
}

impl From<&VersionRecord> for VersionSummary {
    fn from(v: &VersionRecord) -> Self {
        Self {
            version: v.version.get(),
            state: v.state.as_str().to_owned(),
            created_at: v.created_at,
            created_by: v.created_by.to_string(),
            sealed_at: v.sealed_at,
            root_digest: v.root_digest.map(|d| d.to_hex()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub items: Vec<VersionSummary>,
    pub next_cursor: Option<String>,
}

/// A signature on a version, as a reader sees it.
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub namespace: String,
    pub model: String,
    #[serde(flatten)]
    pub summary: VersionSummary,
    #[schema(value_type = Object)]
    pub lineage: Value,
    #[schema(value_type = Object)]
    pub metadata: Value,
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

impl VersionView {
    /// A version as recorded, before anything is judged (a new draft).
    pub fn new(v: VersionRecord, files: Vec<FileRecord>) -> Self {
        let files = sorted(files);
        Self {
            namespace: v.namespace.to_string(),
            model: v.model.to_string(),
            summary: VersionSummary::from(&v),
            lineage: v.lineage.0,
            metadata: v.metadata.0,
            unsafe_formats: files.iter().any(|f| f.format.is_unsafe()),
            files: files.into_iter().map(FileView::from).collect(),
            signatures: Vec::new(),
            verified: false,
            aliases: Vec::new(),
            quarantined: false,
        }
    }
}

impl From<VersionDetails> for VersionView {
    fn from(d: VersionDetails) -> Self {
        let mut view = VersionView::new(d.version, d.files);
        view.verified = d.verification.is_verified();
        view.aliases = d.aliases.iter().map(ToString::to_string).collect();
        view.quarantined = d.quarantined;
        view.signatures = d
            .verification
            .signatures
            .into_iter()
            .map(|s| SignatureView {
                status: s.state(),
                content_only: s.outcome.as_ref().is_ok_and(|v| v.content_only()),
                keyid: s.keyid,
                key_name: s.key_name,
                received_at: s.received_at,
            })
            .collect();
        view
    }
}

#[derive(Serialize, ToSchema)]
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

impl From<Sealed> for SealView {
    fn from(sealed: Sealed) -> Self {
        let view = VersionView::new(sealed.version, sealed.files);
        Self {
            version: view.summary.version,
            state: view.summary.state,
            root_digest: view.summary.root_digest.unwrap_or_default(),
            files: view.files,
            statement: sealed.statement,
        }
    }
}

/// `impl From<Paged<Record>> for List`: each list route's body is its items,
/// shaped one by one, and the next cursor.
macro_rules! list_of {
    ($list:ty, $record:ty, $view:expr) => {
        impl From<$crate::page::Paged<$record>> for $list {
            fn from(paged: $crate::page::Paged<$record>) -> Self {
                let paged = paged.map($view);
                Self {
                    items: paged.items,
                    next_cursor: paged.next_cursor,
                }
            }
        }
    };
}
pub(super) use list_of;

list_of!(NamespaceList, NamespaceRecord, NamespaceView::from);
list_of!(ModelList, ModelRecord, ModelView::from);
list_of!(VersionList, VersionRecord, |v| VersionSummary::from(&v));

//! Answer bodies. Storage ids and keys stay out of every one of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::registry::format::Format;
use crate::registry::promotion::Verification;
use crate::store::{FileRecord, ModelRecord, NamespaceRecord, VersionRecord};

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
            name: n.name,
            description: n.description,
            created_at: n.created_at,
            created_by: n.created_by,
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
            namespace: m.namespace,
            name: m.name,
            description: m.description,
            created_at: m.created_at,
            created_by: m.created_by,
            latest_version: m.latest_version,
            aliases: BTreeMap::new(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub items: Vec<ModelView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FileView {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    /// `safetensors`, `onnx`, `gguf`, `pickle` or `unknown`, recognised from the bytes.
    pub format: String,
}

impl From<FileRecord> for FileView {
    fn from(f: FileRecord) -> Self {
        Self {
            path: f.path,
            size: f.size,
            sha256: f.sha256,
            format: f.format,
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
            version: v.version,
            state: v.state.clone(),
            created_at: v.created_at,
            created_by: v.created_by.clone(),
            sealed_at: v.sealed_at,
            root_digest: v.root_digest.clone(),
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
    pub keyid: String,
    pub key_name: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
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
    /// Holds a pickle-based file.
    pub unsafe_formats: bool,
}

impl VersionView {
    pub fn new(v: VersionRecord, mut files: Vec<FileRecord>) -> Self {
        files.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
        Self {
            namespace: v.namespace.clone(),
            model: v.model.clone(),
            summary: VersionSummary::from(&v),
            lineage: v.lineage.0,
            metadata: v.metadata.0,
            unsafe_formats: files.iter().any(|f| Format::is_unsafe(&f.format)),
            files: files.into_iter().map(FileView::from).collect(),
            signatures: Vec::new(),
            verified: false,
            aliases: Vec::new(),
            quarantined: false,
        }
    }
}

/// The full view of a version: files, signatures judged now, aliases.
pub async fn version_view(st: &AppState, v: VersionRecord) -> Result<VersionView, ApiError> {
    let files = st.registry.store.files_of(v.id).await?;
    let ver = st.registry.verification(&v, &files).await?;
    let quarantined = st.registry.store.is_quarantined(v.id).await?;
    version_view_of(st, v, files, ver, quarantined).await
}

/// The full view of a version whose files, verification and quarantine are known.
pub async fn version_view_of(
    st: &AppState,
    v: VersionRecord,
    files: Vec<FileRecord>,
    ver: Verification,
    quarantined: bool,
) -> Result<VersionView, ApiError> {
    let aliases = st.registry.aliases_at(&v).await?;
    let mut view = VersionView::new(v, files);
    view.verified = ver.is_verified();
    view.aliases = aliases;
    view.quarantined = quarantined;
    view.signatures = ver
        .signatures
        .into_iter()
        .map(|s| SignatureView {
            keyid: s.keyid,
            key_name: s.key_name,
            received_at: s.received_at,
            status: match s.outcome {
                Ok(_) => "verified".to_owned(),
                Err(r) => r.code().to_owned(),
            },
        })
        .collect();
    Ok(view)
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

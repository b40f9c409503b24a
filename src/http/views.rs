//! Answer bodies (the contract's types, `crate::api`), filled from the
//! domain's records. Storage ids and keys stay out of every one of them.

pub use crate::api::{
    DownloadsView, FileView, ModelList, ModelView, NamespaceList, NamespaceView, RateView,
    RoleView, SealView, SignatureView, UploadView, UsageView, VersionList, VersionSummary,
    VersionView, WhoAmI,
};

use std::collections::BTreeMap;

use crate::registry::{FileRecord, ModelRecord, NamespaceRecord, VersionRecord};
use crate::registry::{ModelDetails, Sealed, sorted};
use crate::trust::VersionDetails;

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

impl VersionView {
    /// A version as recorded, before anything is judged (a new draft).
    pub fn new(v: VersionRecord, files: Vec<FileRecord>) -> Self {
        let files = sorted(files);
        Self {
            namespace: v.namespace.to_string(),
            model: v.model.to_string(),
            summary: VersionSummary::from(&v),
            provenance: v.provenance.and_then(|p| serde_json::from_value(p.0).ok()),
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

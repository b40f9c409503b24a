//! Lineage answers, the access log's pages and report, and the error envelope.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::chain::ChainedEvent;
use crate::kinds::{BindingScope, QuarantineKind};
use crate::names::RequiredReason;

/// A version found through lineage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineageEntry {
    pub namespace: String,
    pub model: String,
    pub version: i64,
    pub state: String,
    /// Steps through `parents` from where the walk started: 0 is the version that
    /// names the dataset or commit itself, 1 a fine-tune of it, and so on.
    pub depth: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineageList {
    pub items: Vec<LineageEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionLineage {
    /// Base models, transitively, nearest first.
    pub ancestors: Vec<LineageEntry>,
    /// Fine-tunes, transitively, nearest first.
    pub descendants: Vec<LineageEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<ChainedEvent>,
    pub next_cursor: Option<String>,
}

/// What `GET /v1/audit/verify` answers. Asked for one namespace (its
/// auditors and maintainers may), the whole chain is verified all the same,
/// and the answer tells only whether it holds, its head, and how many of the
/// verified events are that namespace's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    /// Events verified: all of them, or the namespace's.
    pub checked: i64,
    pub head: Head,
    /// Where the chain breaks (global auditors only).
    pub first_bad_seq: Option<i64>,
    /// The namespace asked for, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A consistency proof of the transparency log (RFC 6962 `PROOF(m, D[n])`):
/// the tree of `from` events is a prefix of the tree of `to` events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// The proof's hashes, base64, in order.
    pub hashes: Vec<String>,
}

/// An inclusion proof of the transparency log (RFC 6962 `PATH(m, D[n])`): the
/// event is leaf `leaf_index` of the tree of `tree_size` events, whose root the
/// signed checkpoint gives.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The event's sequence number less one.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The proof's hashes, base64, in order.
    pub hashes: Vec<String>,
    /// The signed checkpoint of `tree_size` events (a signed note's text).
    pub checkpoint: String,
    /// The leaf: the event's line of `audit export`, without its newline.
    pub entry: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// The error envelope every failure answers with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code, e.g. `not_found`, `digest_mismatch`.
    pub code: String,
    /// Human text; safe to show, never internal detail.
    pub message: String,
    #[serde(default)]
    pub request_id: String,
    /// A refusal's reasons, as codes (the gate's, for a refused promotion or
    /// deployer pull).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Per reason, what failed and how to clear it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<super::Refusal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuarantine {
    /// `dataset`, `commit` or `version`.
    pub kind: QuarantineKind,
    /// A dataset digest, a commit id, or `namespace/model@version`.
    pub value: String,
    pub reason: RequiredReason,
    /// Where it applies: the namespaces whose versions it blocks, or `["*"]`
    /// (global roles only). Default: a version's own namespace; for a dataset or
    /// commit, every namespace the caller manages (`*` for a global role).
    #[schema(min_items = 1)]
    pub namespaces: Option<Vec<BindingScope>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineView {
    pub id: Uuid,
    pub kind: String,
    pub value: String,
    /// The namespaces whose versions it blocks, or `["*"]`.
    pub namespaces: Vec<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasAt {
    pub namespace: String,
    pub model: String,
    pub alias: String,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineCreated {
    #[serde(flatten)]
    pub quarantine: QuarantineView,
    /// Versions now blocked (those the caller may see).
    pub affected_versions: Vec<LineageEntry>,
    /// Aliases currently pointing at an affected version.
    pub aliases: Vec<AliasAt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineList {
    pub items: Vec<QuarantineView>,
    pub next_cursor: Option<String>,
}

//! Lineage answers, the access log's pages and report, and the error envelope.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chain::ChainedEvent;

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

/// What `GET /v1/audit/verify` answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: i64,
    pub head: Head,
    pub first_bad_seq: Option<i64>,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

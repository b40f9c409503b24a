//! Why the gate refused: one entry per reason, naming what failed, for a
//! refused promotion and a refused deployer pull alike.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::kinds::{FileFormat, QuarantineKind, RefusalReason, SignatureState};

/// One reason the gate gives, with what failed and how to clear it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refusal {
    pub reason: RefusalReason,
    /// One line: the object that failed, the rule, and the fix.
    pub message: String,
    /// `unsafe_format`, `unknown_format`: the files, with what was found in them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileFinding>,
    /// `lineage_incomplete`: the alias whose rule this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// `lineage_incomplete`: the lineage fields the stage requires and the
    /// version's lineage lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// `quarantined`: the quarantines that hold the version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantines: Vec<QuarantineHold>,
    /// The signature reasons: what was counted against the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<SignatureTally>,
    /// `attestation_missing`, `attestation_unmet`: the rule and what was
    /// judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<super::AttestationCheck>,
}

impl Refusal {
    /// A reason with its message and nothing else named.
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            files: Vec::new(),
            stage: None,
            missing: Vec::new(),
            quarantines: Vec::new(),
            signatures: None,
            attestation: None,
        }
    }
}

/// A file and what its bytes were recognised as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileFinding {
    pub path: String,
    pub format: FileFormat,
    /// Why the bytes were recognised as that format (`pickle opcode GLOBAL at
    /// byte 53`).
    pub finding: String,
}

/// A quarantine that holds a version back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuarantineHold {
    pub id: Uuid,
    pub kind: QuarantineKind,
    /// The dataset digest, commit or `namespace/model@version` quarantined.
    pub value: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The signatures the gate counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignatureTally {
    /// Distinct trusted keys whose signatures count now.
    pub counted: u32,
    /// What the namespace's policy requires (`min_signatures`).
    pub required: u32,
    /// Every stored signature that does not count, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<UncountedSignature>,
}

/// A stored signature that does not count now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UncountedSignature {
    pub keyid: String,
    /// The registered key's name, if a registered key has that id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_name: String,
    pub status: SignatureState,
}

/// The reasons' codes, in order.
pub fn codes(refusals: &[Refusal]) -> Vec<String> {
    refusals
        .iter()
        .map(|r| r.reason.as_str().to_owned())
        .collect()
}

/// What `GET …/versions/{v}/gate` answers: the version's standing now at each
/// alias its namespace's policy names or its model uses, and for deployers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GateView {
    pub namespace: String,
    pub model: String,
    pub version: i64,
    /// Per alias, whether promotion to it would pass now, and why not.
    pub aliases: Vec<AliasGate>,
    /// Whether a deployer may pull it now, and why not.
    pub deployers: PullGate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasGate {
    pub alias: String,
    pub passes: bool,
    /// Each reason it would be refused, with what failed.
    pub reasons: Vec<Refusal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PullGate {
    pub may_pull: bool,
    pub reasons: Vec<Refusal>,
}

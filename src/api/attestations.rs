//! Attestations on versions: in-toto statements (an evaluation, a scan, an
//! SBOM, build provenance) signed by trusted keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::names::KeyId;

/// What the registry read of an attestation it kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttestationAccepted {
    pub id: Uuid,
    pub predicate_type: String,
    /// The trusted key whose signature verified.
    pub keyid: KeyId,
    pub key_name: String,
    /// What its subjects name: `files` (every file of the version by path and
    /// SHA-256) or `root` (the version's root digest).
    pub subjects: String,
}

/// An attestation as kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoredAttestation {
    pub id: Uuid,
    pub predicate_type: String,
    /// The trusted key whose signature verified on arrival.
    pub keyid: String,
    pub received_at: DateTime<Utc>,
    pub received_by: String,
    /// The document as it was received, byte for byte (DSSE envelope or
    /// Sigstore bundle).
    #[schema(value_type = Object)]
    pub envelope: Box<RawValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttestationList {
    /// Oldest first.
    pub items: Vec<StoredAttestation>,
}

/// Which attestations to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttestationQuery {
    /// Only those of this predicate type.
    #[param(max_length = 256, pattern = "^[!-~]+:[!-~]*$")]
    pub predicate_type: Option<String>,
}

/// A promotion rule the gate judged, and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttestationCheck {
    pub predicate_type: String,
    /// The signers the rule accepts (key ids or names); none: any trusted key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<String>,
    /// The attestation judged: the newest of the type that verifies now by an
    /// accepted signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Uuid>,
    /// The rule's conditions that do not hold on it, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<UnmetCondition>,
    /// Attestations of the type that do not count now, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<UncountedAttestation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnmetCondition {
    /// The condition as the policy writes it.
    pub condition: String,
    pub outcome: String,
}

/// An attestation that does not count for a rule now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UncountedAttestation {
    pub id: Uuid,
    pub keyid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_name: String,
    /// A signature status (`key_revoked`, `untrusted_key`, …), or
    /// `signer_not_accepted` when a trusted key the rule does not name signed
    /// it.
    pub status: String,
}

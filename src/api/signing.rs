//! Keys, signatures and promotions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use serde_json::value::RawValue;

use crate::kinds::{BindingScope, RevocationReason, SignatureState};
use crate::names::{KeyId, KeyName, PublicKeyText, Reason, VersionNumber};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterKey {
    pub name: KeyName,
    /// An Ed25519, ECDSA P-256 or ECDSA P-384 public key, SPKI PEM
    /// (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: PublicKeyText,
    /// Namespaces the key may sign for, or `["*"]` (admins only).
    #[schema(min_items = 1)]
    pub namespaces: Vec<BindingScope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Public data of a key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    /// Lowercase hex SHA-256 of the key's canonical SPKI PEM (the key hint of
    /// OpenSSF Model Signing): the same for every text of the same key.
    pub keyid: String,
    pub name: String,
    /// `ed25519`, `ecdsa-p256` or `ecdsa-p384`.
    pub algorithm: String,
    pub public_key: String,
    pub namespaces: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Who registered it: shown to those who manage a namespace of its scope.
    pub created_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `compromised` or `retired`.
    pub revocation_reason: Option<String>,
    pub revocation_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureAccepted {
    pub keyid: KeyId,
    pub key_name: String,
    /// Always `verified`.
    pub status: SignatureState,
    /// Over the files only (a `model_signing sign` bundle): see the version view.
    pub content_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAlias {
    pub version: VersionNumber,
    #[serde(default)]
    pub reason: Reason,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// `compromised`: every signature by the key stops counting, past ones too.
    /// `retired`: no new signatures; earlier ones keep counting.
    pub reason: RevocationReason,
    #[serde(default)]
    pub note: Reason,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LostVersion {
    pub namespace: String,
    pub model: String,
    pub version: i64,
    /// Aliases that now point at this unverified version.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Revoked {
    pub key: KeyView,
    /// Versions that lost verification because of this revocation.
    pub versions_lost_verification: Vec<LostVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasMoveView {
    /// None when the alias was removed.
    pub version: Option<i64>,
    pub previous_version: Option<i64>,
    pub principal: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// The promotion record the registry signed at the move: a DSSE envelope
    /// of an in-toto statement (predicate
    /// `https://k8s.io/promo-tools/promotion/v1`) that the key at
    /// `GET /v1/registry/key` verifies. Absent for removals, and where the
    /// registry signs no records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<Box<RawValue>>,
}

/// The predicate type of the promotion records the registry signs: the
/// in-toto promotion-record predicate.
pub const PROMOTION_PREDICATE: &str = "https://k8s.io/promo-tools/promotion/v1";

/// The registry's own public key, which verifies the promotion records it
/// signs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegistryKeyView {
    /// Lowercase hex SHA-256 of the key's canonical SPKI PEM (the `keyid` of
    /// the records' signatures).
    pub keyid: String,
    /// `ecdsa-p256` or `ed25519`.
    pub algorithm: String,
    /// SPKI PEM.
    pub public_key: String,
    /// The predicate type of the records it signs.
    pub predicate_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasHistory {
    pub items: Vec<AliasMoveView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoredSignature {
    pub keyid: String,
    pub received_at: DateTime<Utc>,
    /// The document as it was received, byte for byte.
    #[schema(value_type = Object)]
    pub envelope: Box<RawValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureList {
    pub items: Vec<StoredSignature>,
}

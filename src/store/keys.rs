//! Trusted public keys and the signatures made with them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::kinds::{Algorithm, BindingScope, RevocationReason};
use crate::names::{KeyId, PrincipalName};
use crate::store::{Pending, VersionRecord};

/// A registered public key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub keyid: KeyId,
    /// The identity of the key material (None for keys registered before it
    /// was recorded; their material is derived from `public_key`).
    pub material: Option<KeyId>,
    pub name: String,
    pub algorithm: Algorithm,
    pub public_key: String,
    /// Namespaces it may sign for, or the global scope (`*`).
    pub namespaces: sqlx::types::Json<Vec<BindingScope>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<RevocationReason>,
    pub revocation_note: Option<String>,
}

/// A signature document as received.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignatureRecord {
    pub keyid: KeyId,
    pub envelope: String,
    pub received_at: DateTime<Utc>,
    pub received_by: PrincipalName,
}

/// Attestations are documents signed with the same keys: whoever holds the
/// keys holds them.
#[async_trait]
pub trait Keys: crate::store::Attestations + Send + Sync {
    /// Registers a key; `Conflict` when its keyid or its material is registered.
    async fn create_key(&self, key: &KeyRecord, audit: &Pending) -> Result<()>;
    async fn get_key(&self, keyid: &KeyId) -> Result<KeyRecord>;
    /// Keys ordered by keyid, after `after`.
    async fn list_keys(&self, after: &str, limit: i64) -> Result<Vec<KeyRecord>>;
    /// Every key, for verification.
    async fn all_keys(&self) -> Result<Vec<KeyRecord>>;
    /// The trust epoch: a counter every change of trust bumps (a key registered
    /// or revoked, a quarantine imposed or lifted, a policy replaced). A
    /// promotion reads it before judging and moves only if it is unchanged
    /// (`Aliases::move_alias`); trust material a process keeps is valid at the
    /// epoch it was read at.
    async fn trust_epoch(&self) -> Result<i64>;
    /// Revokes a key, bumping the trust epoch; answers the revocation's time. A
    /// retired key can still be declared compromised later; nothing else
    /// overwrites a revocation (`Conflict`).
    async fn revoke_key(
        &self,
        keyid: &KeyId,
        reason: RevocationReason,
        note: &str,
        audit: &Pending,
    ) -> Result<DateTime<Utc>>;
    /// Stores a verified signature; `Conflict` when that key already signed the version.
    async fn add_signature(
        &self,
        version_id: Uuid,
        s: &SignatureRecord,
        audit: &Pending,
    ) -> Result<()>;
    async fn signatures_of(&self, version_id: Uuid) -> Result<Vec<SignatureRecord>>;
    /// A version's signatures and, read in the same statement, the trust epoch
    /// they are to be judged at.
    async fn signatures_at(&self, version_id: Uuid) -> Result<(i64, Vec<SignatureRecord>)>;
    /// Versions carrying a signature by this key.
    async fn versions_signed_by(&self, keyid: &KeyId) -> Result<Vec<VersionRecord>>;
}

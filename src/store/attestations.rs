//! Attestations on sealed versions: in-toto statements signed by trusted keys,
//! kept as received.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::names::{KeyId, PrincipalName};
use crate::store::Pending;

/// An attestation document as received, with what was read of it on arrival.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttestationRecord {
    pub id: Uuid,
    pub predicate_type: String,
    /// The trusted key whose signature verified on arrival.
    pub keyid: KeyId,
    /// SHA-256 of the document, hex: the same document is kept once.
    pub digest: String,
    pub envelope: String,
    pub received_at: DateTime<Utc>,
    pub received_by: PrincipalName,
}

#[async_trait]
pub trait Attestations: Send + Sync {
    /// Stores a verified attestation; `Conflict` when the version holds the
    /// same document, or `max` attestations already (counted in the
    /// transaction that adds it).
    async fn add_attestation(
        &self,
        version_id: Uuid,
        a: &AttestationRecord,
        max: usize,
        audit: &Pending,
    ) -> Result<()>;
    /// A version's attestations (of one predicate type, when given), oldest
    /// first.
    async fn attestations_of(
        &self,
        version_id: Uuid,
        predicate_type: Option<&str>,
    ) -> Result<Vec<AttestationRecord>>;
    /// One attestation of a version.
    async fn attestation(&self, version_id: Uuid, id: Uuid) -> Result<AttestationRecord>;
}

//! Trusted keys: registering, listing and revoking them.

use chrono::{DateTime, Utc};

use super::Trust;
use crate::auth::{Manage, Principal, ScopePermit, authorize_scope};
use crate::error::{Error, Result};
use crate::kinds::{Algorithm, BindingScope, RevocationReason};
use crate::names::{AliasName, KeyId, KeyName, Reason};
use crate::page::{Page, Paged};
use crate::signing::keys::{canonical_pem, keyid, parse_public_key};
use crate::store::{KeyRecord, VersionRecord};

/// A version that a revocation left without enough valid signatures, and the
/// aliases that now point at it.
#[derive(Debug, Clone)]
pub struct LostVerification {
    pub version: VersionRecord,
    pub aliases: Vec<AliasName>,
}

impl Trust {
    /// Registers a public key for the scopes the permits cover (one permit per
    /// namespace of the key's scope, or one for `*`). Only Ed25519 SPKI PEM is
    /// accepted.
    pub async fn register_key(
        &self,
        permits: &[ScopePermit<Manage>],
        name: KeyName,
        pem: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<KeyRecord> {
        let first = permits
            .first()
            .ok_or_else(|| Error::invalid("namespaces must name at least one namespace, or *"))?;
        let canonical = canonical_pem(pem);
        if parse_public_key(&canonical).is_none() {
            return Err(Error::invalid(
                "public_key must be an Ed25519 public key in SPKI PEM (BEGIN PUBLIC KEY)",
            ));
        }
        let mut namespaces: Vec<BindingScope> = permits.iter().map(|p| p.scope().clone()).collect();
        namespaces.sort();
        namespaces.dedup();
        let k = KeyRecord {
            keyid: keyid(&canonical),
            name: name.into_string(),
            algorithm: Algorithm::Ed25519,
            public_key: canonical,
            namespaces: sqlx::types::Json(namespaces),
            expires_at,
            created_at: Utc::now(),
            created_by: first.by().clone(),
            revoked_at: None,
            revocation_reason: None,
            revocation_note: None,
        };
        self.keys.create_key(&k, &first.pending()).await?;
        Ok(k)
    }

    /// Registered keys (public data).
    pub async fn keys(&self, page: &Page) -> Result<Paged<KeyRecord>> {
        let items = self.keys.list_keys(page.after_text(), page.limit()).await?;
        Ok(Paged::new(items, page, |k| k.keyid.to_string()))
    }

    pub async fn key(&self, keyid: &KeyId) -> Result<KeyRecord> {
        self.keys.get_key(keyid).await
    }

    /// Revokes a key and reports the versions that lost verification because of
    /// it, with the aliases that now point at them.
    ///
    /// Revoking only removes trust: any maintainer of a namespace the key signs
    /// for may do it, so a compromise is contained without waiting for an admin.
    pub async fn revoke_key(
        &self,
        p: &Principal,
        keyid: &KeyId,
        reason: RevocationReason,
        note: Reason,
    ) -> Result<(KeyRecord, Vec<LostVerification>)> {
        let key = self.keys.get_key(keyid).await?;
        let permit = key
            .namespaces
            .0
            .iter()
            .find_map(|scope| authorize_scope::<Manage>(p, scope).ok())
            .ok_or_else(Error::forbidden)?;
        let signed = self.keys.versions_signed_by(keyid).await?;
        let mut was_verified = Vec::new();
        for v in &signed {
            let files = self.registry.files_of(v).await?;
            was_verified.push(self.verification(v, &files).await?.is_verified());
        }
        self.keys
            .revoke_key(keyid, reason, note.as_str(), Utc::now(), &permit.pending())
            .await?;
        let mut lost = Vec::new();
        for (v, before) in signed.into_iter().zip(was_verified) {
            let files = self.registry.files_of(&v).await?;
            if before && !self.verification(&v, &files).await?.is_verified() {
                let aliases = self.registry.aliases_at(&v).await?;
                lost.push(LostVerification {
                    version: v,
                    aliases,
                });
            }
        }
        Ok((self.keys.get_key(keyid).await?, lost))
    }
}

//! Trusted keys and signatures: registering and revoking keys, accepting
//! signatures, moving aliases.

use chrono::{DateTime, Utc};

use super::Registry;
use super::promotion::{Promotable, statement_inputs, trusted_keys};
use crate::auth::{Permit, Principal};
use crate::error::{Error, Result};
use crate::names::{ModelRef, VersionNumber};
use crate::signing::keys::{Algorithm, RevocationReason, canonical_pem, keyid, parse_public_key};
use crate::signing::verify::{Expected, VerifiedSignature, verify};
use crate::store::{KeyRecord, NewAliasMove, SignatureRecord, VersionRecord};

/// A version that a revocation left without enough valid signatures, and the
/// aliases that now point at it.
#[derive(Debug, Clone)]
pub struct LostVerification {
    pub version: VersionRecord,
    pub aliases: Vec<String>,
}

impl Registry {
    /// Registers a public key. Only Ed25519 SPKI PEM is accepted.
    pub async fn register_key(
        &self,
        _: &Permit,
        by: &Principal,
        name: String,
        pem: &str,
        namespaces: Vec<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<KeyRecord> {
        let canonical = canonical_pem(pem);
        if parse_public_key(&canonical).is_none() {
            return Err(Error::invalid(
                "public_key must be an Ed25519 public key in SPKI PEM (BEGIN PUBLIC KEY)",
            ));
        }
        let k = KeyRecord {
            keyid: keyid(&canonical),
            name,
            algorithm: Algorithm::Ed25519.as_str().to_owned(),
            public_key: canonical,
            namespaces: sqlx::types::Json(namespaces),
            expires_at,
            created_at: Utc::now(),
            created_by: by.name.clone(),
            revoked_at: None,
            revocation_reason: None,
            revocation_note: None,
        };
        self.store.create_key(&k).await?;
        Ok(k)
    }

    /// Revokes a key and reports the versions that lost verification because of
    /// it, with the aliases that now point at them.
    pub async fn revoke_key(
        &self,
        _: &Permit,
        keyid: &str,
        reason: RevocationReason,
        note: &str,
    ) -> Result<Vec<LostVerification>> {
        let signed = self.store.versions_signed_by(keyid).await?;
        let mut was_verified = Vec::new();
        for v in &signed {
            let files = self.store.files_of(v.id).await?;
            was_verified.push(self.verification(v, &files).await?.is_verified());
        }
        self.store
            .revoke_key(keyid, reason.as_str(), note, Utc::now())
            .await?;
        let mut lost = Vec::new();
        for (v, before) in signed.into_iter().zip(was_verified) {
            let files = self.store.files_of(v.id).await?;
            if before && !self.verification(&v, &files).await?.is_verified() {
                let aliases = self.aliases_at(&v).await?;
                lost.push(LostVerification {
                    version: v,
                    aliases,
                });
            }
        }
        Ok(lost)
    }

    /// Verifies a signature document on arrival and keeps it verbatim.
    pub async fn add_signature(
        &self,
        _: &Permit,
        by: &Principal,
        v: &VersionRecord,
        doc: &[u8],
    ) -> Result<VerifiedSignature> {
        if !v.is_sealed() {
            return Err(Error::VersionNotSealed);
        }
        let files = self.store.files_of(v.id).await?;
        let (model, sorted) = statement_inputs(v, &files)?;
        let keys = trusted_keys(self.store.all_keys().await?);
        let now = Utc::now();
        let expected = Expected::new(
            &self.name,
            &model,
            VersionNumber::new(v.version)?,
            &v.lineage.0,
            &sorted,
        );
        let verified = verify(doc, &keys, &expected, now, now).map_err(Error::SignatureRejected)?;
        let envelope = String::from_utf8(doc.to_vec()).map_err(|_| {
            Error::SignatureRejected(crate::signing::verify::Rejection::SignatureInvalid)
        })?;
        self.store
            .add_signature(
                v.id,
                &SignatureRecord {
                    keyid: verified.keyid().to_owned(),
                    envelope,
                    received_at: now,
                    received_by: by.name.clone(),
                },
            )
            .await?;
        Ok(verified)
    }

    /// Points an alias at a version that passed the gate.
    pub async fn promote(
        &self,
        _: &Permit,
        by: &Principal,
        model: &ModelRef,
        alias: &str,
        ok: Promotable,
        reason: &str,
    ) -> Result<Option<i64>> {
        self.store
            .move_alias(&NewAliasMove {
                namespace: model.namespace.as_str(),
                model: model.name.as_str(),
                alias,
                version: Some(ok.version),
                principal: &by.name,
                reason,
                at: Utc::now(),
            })
            .await
    }

    /// Removes an alias; the removal is recorded in its history.
    pub async fn remove_alias(
        &self,
        _: &Permit,
        by: &Principal,
        model: &ModelRef,
        alias: &str,
        reason: &str,
    ) -> Result<()> {
        self.store
            .move_alias(&NewAliasMove {
                namespace: model.namespace.as_str(),
                model: model.name.as_str(),
                alias,
                version: None,
                principal: &by.name,
                reason,
                at: Utc::now(),
            })
            .await?;
        Ok(())
    }
}

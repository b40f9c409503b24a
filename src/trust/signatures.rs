//! Signatures on sealed versions: verified on arrival, kept verbatim.

use chrono::Utc;

use super::Trust;
use super::verification::trusted_keys;
use crate::auth::{Permit, Publish, Read};
use crate::error::{Error, Result};
use crate::names::{KeyId, ModelName, VersionNumber};
use crate::registry::resources;
use crate::signing::verify::{
    Expected, Rejection, Times, VerifiedSignature, check_bundle_media_type, verify,
};
use crate::store::SignatureRecord;

impl Trust {
    /// Verifies a signature document (DSSE envelope or Sigstore bundle) on
    /// arrival and keeps it verbatim.
    pub async fn add_signature(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        doc: &[u8],
    ) -> Result<VerifiedSignature> {
        let v = self.registry.version(permit, name, number).await?;
        if !v.is_sealed() {
            return Err(Error::VersionNotSealed);
        }
        let files = self.registry.files_of(&v).await?;
        let sorted = resources(&files);
        let keys = trusted_keys(self.keys.all_keys().await?);
        let model = v.model_ref();
        let expected = Expected::new(
            self.registry.name(),
            &model,
            v.version,
            &v.lineage.0,
            &sorted,
        )
        .with_provenance(v.provenance.as_ref().map(|p| &p.0));
        let now = Utc::now();
        check_bundle_media_type(doc).map_err(Error::SignatureRejected)?;
        let at = Times {
            received_at: now,
            now,
        };
        let verified =
            super::verification::counted(verify(doc, &keys, &expected, at, self.cache.checks()))
                .map_err(Error::SignatureRejected)?;
        let envelope = String::from_utf8(doc.to_vec())
            .map_err(|_| Error::SignatureRejected(Rejection::SignatureInvalid))?;
        permit.record("version", number.get().into());
        permit.record("keyid", verified.keyid().to_string().into());
        permit.record("key_name", verified.key_name().into());
        let record = SignatureRecord {
            keyid: verified.keyid().clone(),
            envelope,
            received_at: now,
            received_by: permit.by().clone(),
        };
        self.keys
            .add_signature(v.id, &record, &permit.pending())
            .await?;
        Ok(verified)
    }

    /// The stored signature documents of a version, verbatim.
    pub async fn signatures(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Vec<SignatureRecord>> {
        let v = self.registry.version(permit, name, number).await?;
        self.keys.signatures_of(v.id).await
    }

    /// A stored signature as a Sigstore bundle v0.3 for the key `keyid`, which
    /// OpenSSF Model Signing's verifier reads.
    pub async fn bundle(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
        keyid: &KeyId,
    ) -> Result<serde_json::Value> {
        let v = self.registry.version(permit, name, number).await?;
        let stored = self.keys.signatures_of(v.id).await?;
        let record = stored
            .iter()
            .find(|s| &s.keyid == keyid)
            .ok_or(Error::NotFound)?;
        self.bundle_of(&record.keyid, &record.envelope).await
    }
}

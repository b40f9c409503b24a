//! What a puller may have of a version through the OCI face: a sealed version
//! (drafts change; a manifest must not), held to the deployer rules for a caller
//! who may download verified versions only, with the signatures that count now
//! as Sigstore bundles.

use chrono::{DateTime, Utc};

use super::{DownloadPermit, Trust, VersionDetails};
use crate::api::Refusal;
use crate::error::{Error, Result};
use crate::kinds::RefusalReason;
use crate::names::{KeyId, ModelName, VersionNumber};
use crate::signing::bundle::bundle_for;
use crate::signing::keys::parse_public_key;
use crate::store::SignatureRecord;

/// A version a caller may pull now, with what its referrers are made of.
pub struct Pullable {
    pub details: VersionDetails,
    /// The signatures that count now, as Sigstore bundles, oldest first; then
    /// the attestations that count now, likewise.
    pub bundles: Vec<OfferedBundle>,
}

/// One signature that counts now, as the bundle `model_signing verify` reads.
pub struct OfferedBundle {
    pub keyid: KeyId,
    pub received_at: DateTime<Utc>,
    pub bundle: serde_json::Value,
}

impl Trust {
    /// A version as the caller may pull it now, or every reason it may not:
    /// publishers and maintainers any sealed version, deployers and approvers
    /// what the deployer rules of `/v1` downloads allow.
    pub async fn pullable(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<std::result::Result<Pullable, Vec<Refusal>>> {
        let (verdict, stored) = self.pull_verdict(permit, name, number).await?;
        match verdict {
            Ok(details) => {
                let mut bundles = self.offered_bundles(&details, stored).await?;
                bundles.extend(self.offered_attestations(&details).await?);
                Ok(Ok(Pullable { details, bundles }))
            }
            Err(refusals) => Ok(Err(refusals)),
        }
    }

    /// Whether the caller may pull the version now ([`Trust::pullable`]
    /// without its bundles).
    pub async fn may_pull(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<bool> {
        Ok(self.pull_verdict(permit, name, number).await?.0.is_ok())
    }

    /// [`Trust::pullable`]'s verdict, with the version's stored signatures.
    async fn pull_verdict(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<(
        std::result::Result<VersionDetails, Vec<Refusal>>,
        Vec<SignatureRecord>,
    )> {
        let entry = permit.version_entry(&self.registry, name, number).await?;
        let stored = entry.signatures.clone();
        let details = self.details_of(entry).await?;
        let refusals = match permit {
            DownloadPermit::VerifiedOnly(_) => self.pull_refusals(&details).await?,
            DownloadPermit::Any(_) if details.version.is_sealed() => Vec::new(),
            DownloadPermit::Any(_) => vec![Refusal::new(
                RefusalReason::NotSealed,
                format!(
                    "version {} is a draft: registry clients get sealed versions only",
                    details.version.version
                ),
            )],
        };
        match refusals.is_empty() {
            true => Ok((Ok(details), stored)),
            false => Ok((Err(refusals), stored)),
        }
    }

    /// The stored signatures that count now, each as a bundle; a revoked key's
    /// (or any that does not verify now) is not offered.
    async fn offered_bundles(
        &self,
        details: &VersionDetails,
        stored: Vec<SignatureRecord>,
    ) -> Result<Vec<OfferedBundle>> {
        let mut out = Vec::new();
        for record in stored {
            let counts = details
                .verification
                .signatures
                .iter()
                .any(|s| s.keyid == record.keyid && s.outcome.is_ok());
            if counts {
                out.push(OfferedBundle {
                    bundle: self.bundle_of(&record.keyid, &record.envelope).await?,
                    keyid: record.keyid,
                    received_at: record.received_at,
                });
            }
        }
        out.sort_by(|a, b| (a.received_at, &a.keyid).cmp(&(b.received_at, &b.keyid)));
        Ok(out)
    }

    /// A stored signature as a Sigstore bundle v0.3 naming its key.
    pub(super) async fn bundle_of(
        &self,
        keyid: &KeyId,
        envelope: &str,
    ) -> Result<serde_json::Value> {
        let key = self.keys.get_key(keyid).await?;
        let parsed = parse_public_key(&key.public_key).map_err(Error::internal)?;
        let env = crate::signing::dsse::parse(envelope.as_bytes()).map_err(|e| {
            Error::internal(anyhow::anyhow!("a stored signature is unreadable: {e:?}"))
        })?;
        bundle_for(&env, &parsed.key, &parsed.id)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("a stored signature is not its key's")))
    }
}

/// What a download permit reads under it, whichever action it names.
impl DownloadPermit {
    /// A version with its files, aliases and signatures, read under this permit.
    pub(crate) async fn version_entry(
        &self,
        registry: &crate::registry::Registry,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<crate::registry::VersionEntry> {
        match self {
            DownloadPermit::Any(p) => registry.version_entry(p, name, number).await,
            DownloadPermit::VerifiedOnly(p) => registry.version_entry(p, name, number).await,
        }
    }

    /// A model with where its aliases point, read under this permit.
    pub(crate) async fn model(
        &self,
        registry: &crate::registry::Registry,
        name: &ModelName,
    ) -> Result<crate::registry::ModelDetails> {
        match self {
            DownloadPermit::Any(p) => registry.model(p, name).await,
            DownloadPermit::VerifiedOnly(p) => registry.model(p, name).await,
        }
    }

    /// A page of a model's versions, newest first, read under this permit.
    pub(crate) async fn versions(
        &self,
        registry: &crate::registry::Registry,
        name: &ModelName,
        page: &crate::page::Page,
    ) -> Result<crate::page::Paged<crate::store::VersionRecord>> {
        match self {
            DownloadPermit::Any(p) => registry.versions(p, name, page).await,
            DownloadPermit::VerifiedOnly(p) => registry.versions(p, name, page).await,
        }
    }

    /// Adds what the download served to its request's access log event.
    pub fn record(&self, key: &str, value: serde_json::Value) {
        match self {
            DownloadPermit::Any(p) => p.record(key, value),
            DownloadPermit::VerifiedOnly(p) => p.record(key, value),
        }
    }

    /// Marks the request as refused by the registry's policy, for these
    /// reasons (codes): its access log event's outcome is `refused`.
    pub fn refused(&self, reasons: Vec<String>) {
        match self {
            DownloadPermit::Any(p) => p.refused(reasons),
            DownloadPermit::VerifiedOnly(p) => p.refused(reasons),
        }
    }
}

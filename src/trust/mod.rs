//! Trust: trusted keys, signatures, what a version's signatures are worth now,
//! the promotion gate, aliases, and who may pull what.
//!
//! Dependency rule: handlers call [`Trust`] with a permit; it reads versions and
//! files through the [`Registry`], and holds the store capabilities it needs
//! (keys and signatures, aliases, quarantine checks, namespace policies). The
//! verifier itself (`signing`) is pure: it remembers signature checks that
//! held, which changes no answer.

mod aliases;
mod attestations;
mod cache;
mod documents;
mod gate;
mod keys;
mod policy;
mod pulls;
mod records;
mod rules;
mod signatures;
mod verification;

use std::sync::Arc;

use crate::auth::{
    DownloadUnverified, DownloadVerified, Manage, Permit, Principal, Read, Seen, authorize,
};
use crate::error::{Error, Result};
use crate::limits::DownloadQuotas;
use crate::names::{AliasName, FilePath, ModelName, Namespace, VersionNumber};
use crate::registry::{Download, Presigned, RangeSpec, Registry, VersionEntry};
use crate::signing::keys::TrustedKey;
use crate::store::{Aliases, FileRecord, Keys, Lineage, Namespaces, VersionRecord};

/// The records trust operations answer with.
pub use crate::store::{AliasMove, AttestationRecord, KeyRecord, SignatureRecord};
pub use attestations::KeptAttestation;
pub use documents::{BUILD_TYPE, SLSA_PROVENANCE};
pub use gate::{Gate, GatePanel, Promotable};
pub use keys::{LostVerification, ShownKey};
pub use policy::{AttestationRule, DeployerPulls, LineageField, NamespacePolicy, UnknownFormats};
pub use pulls::{OfferedBundle, Pullable};
pub use records::{PROMOTION_PREDICATE, RecordSigner, RegistryKey};
pub use verification::{SignatureStatus, Verification, trusted_keys};

/// The trust service: one per process, shared by all requests.
pub struct Trust {
    registry: Arc<Registry>,
    keys: Arc<dyn Keys>,
    aliases: Arc<dyn Aliases>,
    lineage: Arc<dyn Lineage>,
    namespaces: Arc<dyn Namespaces>,
    quotas: Arc<DownloadQuotas>,
    cache: cache::TrustCache,
    /// How long a presigned download URL lives, when downloads may be
    /// redirected to the object store.
    redirects: Option<std::time::Duration>,
    /// The registry's own key, which signs promotion records (none: moves
    /// are kept without one).
    records: Option<Arc<RecordSigner>>,
}

/// A download's answer: the bytes, or where the object store serves them.
pub enum Fetched {
    Bytes(Download),
    Redirect(Presigned),
}

/// The stores trust decisions use.
pub struct TrustStores {
    pub keys: Arc<dyn Keys>,
    pub aliases: Arc<dyn Aliases>,
    pub lineage: Arc<dyn Lineage>,
    pub namespaces: Arc<dyn Namespaces>,
}

/// A version with everything a reader is shown about it: its files, its
/// signatures judged now, the aliases on it and whether it is quarantined.
pub struct VersionDetails {
    pub version: VersionRecord,
    pub files: Vec<FileRecord>,
    pub verification: Verification,
    pub aliases: Vec<AliasName>,
    pub quarantined: bool,
}

/// Leave to download files of a namespace's versions: any version (publishers,
/// maintainers), or only versions that verify now (deployers, approvers).
pub enum DownloadPermit {
    Any(Permit<DownloadUnverified>),
    VerifiedOnly(Permit<DownloadVerified>),
}

impl DownloadPermit {
    /// Leave to pull from repository `model` through the OCI face: the
    /// credential must cover it (a registry token is minted for some
    /// repositories), then as [`DownloadPermit::authorize`].
    pub fn authorize_repository(p: &Principal, model: &crate::names::ModelRef) -> Result<Self> {
        if !p.covers(model) {
            return Err(Error::OutOfScope(model.to_string()));
        }
        Self::authorize(p, &model.namespace)
    }

    /// The namespace it was granted in.
    pub fn namespace(&self) -> &Namespace {
        match self {
            Self::Any(p) => p.namespace(),
            Self::VerifiedOnly(p) => p.namespace(),
        }
    }

    pub fn authorize(p: &Principal, ns: &Namespace) -> Result<Self> {
        if p.may::<DownloadUnverified>(ns) {
            Ok(Self::Any(authorize(p, ns)?))
        } else {
            Ok(Self::VerifiedOnly(authorize(p, ns)?))
        }
    }
}

impl Trust {
    pub fn new(registry: Arc<Registry>, stores: TrustStores, quotas: Arc<DownloadQuotas>) -> Self {
        Self {
            registry,
            quotas,
            keys: stores.keys,
            aliases: stores.aliases,
            lineage: stores.lineage,
            namespaces: stores.namespaces,
            cache: cache::TrustCache::default(),
            redirects: None,
            records: None,
        }
    }

    /// Promotions are recorded in statements signed with `signer`.
    pub fn with_records(mut self, signer: Option<RecordSigner>) -> Self {
        self.records = signer.map(Arc::new);
        self
    }

    /// The registry's published key, which verifies its promotion records.
    pub fn registry_key(&self) -> Result<RegistryKey> {
        self.records
            .as_ref()
            .map(|r| r.published())
            .ok_or(Error::RecordsUnavailable)
    }

    /// Downloads whose client accepts it are redirected to presigned URLs
    /// living `ttl` (none: never).
    pub fn with_redirects(mut self, ttl: Option<std::time::Duration>) -> Self {
        self.redirects = ttl;
        self
    }

    /// A namespace's promotion policy, defaults filled in.
    pub async fn policy(&self, permit: &Permit<Read>) -> Result<NamespacePolicy> {
        self.policy_of(permit.namespace()).await
    }

    async fn policy_of(&self, ns: &Namespace) -> Result<NamespacePolicy> {
        NamespacePolicy::from_stored(self.namespaces.get_policy(ns).await?)
    }

    /// Replaces a namespace's promotion policy.
    pub async fn set_policy(
        &self,
        permit: &Permit<Manage>,
        policy: NamespacePolicy,
    ) -> Result<NamespacePolicy> {
        policy.check()?;
        let stored = serde_json::to_value(&policy).map_err(Error::internal)?;
        self.namespaces
            .set_policy(permit.namespace(), &stored, &permit.pending())
            .await?;
        Ok(policy)
    }

    /// Re-verifies every stored signature of a version against the keys and
    /// revocations as they are now.
    pub async fn verification(
        &self,
        v: &VersionRecord,
        files: &[FileRecord],
    ) -> Result<Verification> {
        let (epoch, stored) = self.keys.signatures_at(v.id).await?;
        self.judge_at(epoch, v, files, stored).await
    }

    /// Judges a version's signatures, read with trust epoch `epoch`: the keys
    /// and the namespace's policy are those kept at that epoch or later
    /// (`cache`), loaded afresh when a change of trust came since.
    async fn judge_at(
        &self,
        epoch: i64,
        v: &VersionRecord,
        files: &[FileRecord],
        stored: Vec<SignatureRecord>,
    ) -> Result<Verification> {
        let policy = match self.cache.policy(epoch, &v.namespace) {
            Some(p) => p,
            None => {
                let p = self.policy_of(&v.namespace).await?;
                self.cache.keep_policy(epoch, &v.namespace, &p);
                p
            }
        };
        let keys: Arc<[TrustedKey]> = if stored.is_empty() {
            Arc::new([])
        } else {
            self.keys_at(epoch).await?
        };
        Ok(Verification::judge(
            epoch,
            self.registry.name(),
            v,
            files,
            stored,
            &keys,
            policy,
            self.cache.checks(),
        ))
    }

    /// The trusted keys as they are at trust epoch `epoch` or later.
    async fn keys_at(&self, epoch: i64) -> Result<Arc<[TrustedKey]>> {
        if let Some(keys) = self.cache.keys(epoch) {
            return Ok(keys);
        }
        let keys: Arc<[TrustedKey]> = trusted_keys(self.keys.all_keys().await?).into();
        self.cache.keep_keys(epoch, keys.clone());
        Ok(keys)
    }

    /// Whether a version is quarantined, at trust epoch `epoch` or later.
    async fn quarantined_at(&self, epoch: i64, v: &VersionRecord) -> Result<bool> {
        if let Some(q) = self.cache.quarantined(epoch, v.id) {
            return Ok(q);
        }
        let q = self.lineage.is_quarantined(v.id).await?;
        self.cache.keep_quarantined(epoch, v.id, q);
        Ok(q)
    }

    /// A version's signatures judged now, and whether it is quarantined, both
    /// at one trust epoch.
    async fn standing(
        &self,
        v: &VersionRecord,
        files: &[FileRecord],
    ) -> Result<(Verification, bool)> {
        let (epoch, stored) = self.keys.signatures_at(v.id).await?;
        self.standing_at(epoch, v, files, stored).await
    }

    /// [`Trust::standing`] of a version read as an entry, at the trust epoch
    /// read with its signatures (no statement of its own for them); the
    /// signatures are taken out of the entry to be judged.
    async fn entry_standing(&self, entry: &mut VersionEntry) -> Result<(Verification, bool)> {
        let stored = std::mem::take(&mut entry.signatures);
        self.standing_at(entry.trust_epoch, &entry.version, &entry.files, stored)
            .await
    }

    /// Signatures `stored` judged, and the quarantine verdict, at `epoch`.
    async fn standing_at(
        &self,
        epoch: i64,
        v: &VersionRecord,
        files: &[FileRecord],
        stored: Vec<SignatureRecord>,
    ) -> Result<(Verification, bool)> {
        let verification = self.judge_at(epoch, v, files, stored).await?;
        let quarantined = self.quarantined_at(epoch, v).await?;
        Ok((verification, quarantined))
    }

    /// Everything a reader is shown about a version.
    pub async fn version(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<VersionDetails> {
        Ok(self.seen_version(permit, name, number).await?.answer)
    }

    /// [`Trust::version`] with the access epoch read beside it.
    pub async fn seen_version(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Seen<VersionDetails>> {
        let entry = self.registry.version_entry(permit, name, number).await?;
        let access_epoch = entry.access_epoch;
        Ok(Seen {
            answer: self.details_of(entry).await?,
            access_epoch,
        })
    }

    /// A version read as an entry, with its signatures judged and its
    /// quarantine verdict, at the trust epoch read with them.
    async fn details_of(&self, mut entry: VersionEntry) -> Result<VersionDetails> {
        let (verification, quarantined) = self.entry_standing(&mut entry).await?;
        Ok(VersionDetails {
            version: entry.version,
            files: entry.files,
            verification,
            aliases: entry.aliases,
            quarantined,
        })
    }

    /// What a deployer may pull: what the gate's checks that do not depend on
    /// a stage let through, and the namespace's pull policy. Checked on every
    /// pull against the quarantines, keys, revocations, aliases and policy as
    /// they are, so each takes effect on the next request.
    async fn check_deployable(&self, entry: VersionEntry) -> Result<Vec<FileRecord>> {
        let details = self.details_of(entry).await?;
        let refusals = self.pull_refusals(&details).await?;
        if !refusals.is_empty() {
            return Err(Error::PullRefused(refusals));
        }
        Ok(details.files)
    }

    /// The files of a version `permit` lets its holder download now: any
    /// version's, or a deployable one's (a refusal marks the request refused).
    async fn downloadable(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<Vec<FileRecord>> {
        let entry = permit.version_entry(&self.registry, name, number).await?;
        match permit {
            DownloadPermit::Any(_) => Ok(entry.files),
            DownloadPermit::VerifiedOnly(_) => {
                self.check_deployable(entry).await.inspect_err(|e| {
                    if let Error::PullRefused(reasons) = e {
                        permit.refused(crate::api::refusals::codes(reasons));
                    }
                })
            }
        }
    }

    /// A file for whom the permit allows, charged to `by`'s download quota and
    /// written into the access log with what it serves: its bytes (the whole
    /// file, or one `range`), checked on the way out; or, when the client
    /// accepts a redirect and redirects are on, a presigned URL of it (the
    /// client fetches and checks the bytes itself).
    #[allow(clippy::too_many_arguments)]
    pub async fn fetch(
        &self,
        by: &Principal,
        permit: &DownloadPermit,
        name: &ModelName,
        number: VersionNumber,
        path: &FilePath,
        range: Option<RangeSpec>,
        accepts_redirect: bool,
    ) -> Result<Fetched> {
        let files = self.downloadable(permit, name, number).await?;
        // Which version it serves: the extraction alerts count versions.
        permit.record("version", number.get().into());
        if let Some(ttl) = self.redirects.filter(|_| accepts_redirect)
            && let Some(p) = self.registry.presign_file(&files, path, ttl).await?
        {
            let r = range.map(|r| r.resolve(p.size)).transpose()?;
            let ranged = r.is_some();
            self.charge(by, permit, r.unwrap_or(0..p.size), ranged)
                .await?;
            permit.record("redirect", true.into());
            return Ok(Fetched::Redirect(p));
        }
        let d = self.registry.open_file(files, path, range).await?;
        let served = d.range.as_ref().map_or(0..d.size, |(r, _)| r.clone());
        self.charge(by, permit, served, d.range.is_some()).await?;
        Ok(Fetched::Bytes(d))
    }

    /// Charges the bytes `served` to `by`'s download quota (a whole file when
    /// they start at 0), and records them in the request's access log event.
    async fn charge(
        &self,
        by: &Principal,
        permit: &DownloadPermit,
        served: std::ops::Range<u64>,
        ranged: bool,
    ) -> Result<()> {
        let bytes = served.end - served.start;
        self.quotas
            .charge(by.name(), by.bindings(), bytes, served.start == 0)
            .await?;
        permit.record("bytes", bytes.into());
        if ranged {
            permit.record("range_start", served.start.into());
        }
        Ok(())
    }
}

//! The promotion gate: namespace policy, version verification against the current
//! keys and revocations, and the reasons a promotion is refused.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Registry, format::Format};
use crate::error::{Error, Result};
use crate::names::{FilePath, ModelRef, Sha256, VersionNumber};
use crate::signing::keys::{RevocationReason, TrustedKey, parse_public_key};
use crate::signing::statement::{Resource, sort_resources};
use crate::signing::verify::{Expected, Rejection, VerifiedSignature, normalize, verify};
use crate::store::{FileRecord, KeyRecord, VersionRecord};

/// Lineage fields a stage can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum LineageField {
    #[serde(rename = "code.commit")]
    CodeCommit,
    #[serde(rename = "code.repo")]
    CodeRepo,
    #[serde(rename = "data")]
    Data,
    #[serde(rename = "environment")]
    Environment,
    #[serde(rename = "parents")]
    Parents,
    #[serde(rename = "run")]
    Run,
}

impl LineageField {
    fn present(self, lineage: &Value) -> bool {
        let l = normalize(lineage);
        let v = match self {
            LineageField::CodeCommit => &l["code"]["commit"],
            LineageField::CodeRepo => &l["code"]["repo"],
            LineageField::Data => &l["data"],
            LineageField::Environment => &l["environment"],
            LineageField::Parents => &l["parents"],
            LineageField::Run => &l["run"],
        };
        !v.is_null()
    }
}

/// A namespace's promotion policy. Absent fields take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespacePolicy {
    /// Distinct trusted keys whose signatures must verify (default 1).
    #[serde(default = "one")]
    pub min_signatures: u32,
    /// Allow promoting versions holding pickle-based files (default false).
    #[serde(default)]
    pub allow_unsafe_formats: bool,
    /// alias → lineage fields it requires. Default: `production` requires
    /// `code.commit`, `data` and `environment`.
    #[serde(default = "default_lineage_required")]
    pub lineage_required: BTreeMap<String, BTreeSet<LineageField>>,
}

fn one() -> u32 {
    1
}

fn default_lineage_required() -> BTreeMap<String, BTreeSet<LineageField>> {
    BTreeMap::from([(
        "production".to_owned(),
        BTreeSet::from([
            LineageField::CodeCommit,
            LineageField::Data,
            LineageField::Environment,
        ]),
    )])
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        Self {
            min_signatures: 1,
            allow_unsafe_formats: false,
            lineage_required: default_lineage_required(),
        }
    }
}

impl NamespacePolicy {
    pub fn from_stored(v: Value) -> Result<Self> {
        serde_json::from_value(v).map_err(Error::internal)
    }
}

/// One stored signature, judged now.
#[derive(Debug, Clone)]
pub struct SignatureStatus {
    pub keyid: String,
    pub key_name: String,
    pub received_at: chrono::DateTime<Utc>,
    /// `Ok` when it counts now.
    pub outcome: std::result::Result<VerifiedSignature, Rejection>,
}

/// What a version's signatures are worth now, under its namespace's policy.
#[derive(Debug, Clone)]
pub struct Verification {
    pub signatures: Vec<SignatureStatus>,
    pub policy: NamespacePolicy,
    sealed: bool,
}

impl Verification {
    /// Distinct keys whose signatures count now.
    pub fn verified_keys(&self) -> BTreeSet<&str> {
        self.signatures
            .iter()
            .filter_map(|s| s.outcome.as_ref().ok().map(VerifiedSignature::keyid))
            .collect()
    }

    /// Sealed, and signed by at least `min_signatures` trusted keys, now.
    pub fn is_verified(&self) -> bool {
        self.sealed && self.verified_keys().len() >= self.policy.min_signatures.max(1) as usize
    }

    /// Every reason (codes of the API) why signatures do not suffice.
    fn signature_reasons(&self) -> BTreeSet<&'static str> {
        let mut out = BTreeSet::new();
        if !self.sealed {
            out.insert("not_sealed");
            return out;
        }
        let verified = self.verified_keys().len();
        if self.signatures.is_empty() {
            out.insert("unsigned");
        } else if verified == 0 {
            for s in &self.signatures {
                if let Err(r) = s.outcome {
                    out.insert(match r {
                        Rejection::KeyRevoked => "key_revoked",
                        _ => "signature_invalid",
                    });
                }
            }
        } else if verified < self.policy.min_signatures as usize {
            out.insert("insufficient_signatures");
        }
        out
    }
}

/// What the gate found: the files and signatures it judged, and its verdict.
pub struct Gate {
    pub files: Vec<FileRecord>,
    pub verification: Verification,
    pub quarantined: bool,
    /// The proof, or every reason (API codes) for refusing.
    pub outcome: std::result::Result<Promotable, Vec<String>>,
}

/// Proof that a version passed the gate for one alias. Only
/// [`Registry::check_promotion`] makes one, and only `promote` accepts it.
#[derive(Debug)]
pub struct Promotable {
    pub(super) version: i64,
}

/// Converts stored key rows into verifier keys. A row that no longer parses is
/// skipped: it can only fail to verify.
pub fn trusted_keys(rows: Vec<KeyRecord>) -> Vec<TrustedKey> {
    rows.into_iter()
        .filter_map(|k| {
            let key = parse_public_key(&k.public_key)?;
            let revoked = match (
                k.revocation_reason
                    .as_deref()
                    .and_then(RevocationReason::parse),
                k.revoked_at,
            ) {
                (Some(r), Some(at)) => Some((r, at)),
                _ => None,
            };
            Some(TrustedKey {
                keyid: k.keyid,
                name: k.name,
                key,
                namespaces: k.namespaces.0,
                expires_at: k.expires_at,
                revoked,
            })
        })
        .collect()
}

/// What a version's statement is built from: its model's full name and its files
/// in statement order.
pub fn statement_inputs(
    v: &VersionRecord,
    files: &[FileRecord],
) -> Result<(ModelRef, Vec<Resource>)> {
    Ok((
        ModelRef::parse(&format!("{}/{}", v.namespace, v.model))?,
        resources(files)?,
    ))
}

/// The sealed file set in statement order.
pub fn resources(files: &[FileRecord]) -> Result<Vec<Resource>> {
    let mut out = files
        .iter()
        .map(|f| {
            Ok(Resource {
                path: FilePath::parse(&f.path)?,
                size: u64::try_from(f.size).map_err(Error::internal)?,
                sha256: Sha256::parse(&f.sha256)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    sort_resources(&mut out);
    Ok(out)
}

impl Registry {
    /// Aliases of the version's model that point at it now.
    pub async fn aliases_at(&self, v: &VersionRecord) -> Result<Vec<String>> {
        Ok(self
            .store
            .aliases_of(&v.namespace, &v.model)
            .await?
            .into_iter()
            .filter(|(_, n)| *n == v.version)
            .map(|(a, _)| a)
            .collect())
    }

    pub async fn policy(&self, namespace: &str) -> Result<NamespacePolicy> {
        NamespacePolicy::from_stored(self.store.get_policy(namespace).await?)
    }

    /// Re-verifies every stored signature of a version against the keys and
    /// revocations as they are now.
    pub async fn verification(
        &self,
        v: &VersionRecord,
        files: &[FileRecord],
    ) -> Result<Verification> {
        let policy = self.policy(&v.namespace).await?;
        let stored = self.store.signatures_of(v.id).await?;
        let keys = if stored.is_empty() {
            Vec::new()
        } else {
            trusted_keys(self.store.all_keys().await?)
        };
        let (model, sorted) = statement_inputs(v, files)?;
        let expected = Expected::new(
            &self.name,
            &model,
            VersionNumber::new(v.version)?,
            &v.lineage.0,
            &sorted,
        );
        let now = Utc::now();
        let signatures = stored
            .into_iter()
            .map(|s| SignatureStatus {
                key_name: keys
                    .iter()
                    .find(|k| k.keyid == s.keyid)
                    .map(|k| k.name.clone())
                    .unwrap_or_default(),
                outcome: verify(s.envelope.as_bytes(), &keys, &expected, s.received_at, now),
                keyid: s.keyid,
                received_at: s.received_at,
            })
            .collect();
        Ok(Verification {
            signatures,
            policy,
            sealed: v.is_sealed(),
        })
    }

    /// What a deployer may pull: a version that is not quarantined and verifies
    /// now. Checked on every pull against the quarantines, keys and revocations as
    /// they are, so each takes effect on the next request.
    pub async fn check_deployable(&self, v: &VersionRecord, files: &[FileRecord]) -> Result<()> {
        if self.store.is_quarantined(v.id).await? {
            return Err(Error::Quarantined);
        }
        if !self.verification(v, files).await?.is_verified() {
            return Err(Error::VersionNotVerified);
        }
        Ok(())
    }

    /// Every reason a version cannot be promoted to `alias` now, or the proof that
    /// it can.
    pub async fn check_promotion(&self, v: &VersionRecord, alias: &str) -> Result<Gate> {
        let files = self.store.files_of(v.id).await?;
        let ver = self.verification(v, &files).await?;
        let mut reasons: BTreeSet<&'static str> = ver.signature_reasons();
        let lineage_ok = ver
            .policy
            .lineage_required
            .get(alias)
            .is_none_or(|need| need.iter().all(|f| f.present(&v.lineage.0)));
        if !lineage_ok {
            reasons.insert("lineage_incomplete");
        }
        if !ver.policy.allow_unsafe_formats && files.iter().any(|f| Format::is_unsafe(&f.format)) {
            reasons.insert("unsafe_format");
        }
        let quarantined = self.store.is_quarantined(v.id).await?;
        if quarantined {
            reasons.insert("quarantined");
        }
        let outcome = if reasons.is_empty() {
            Ok(Promotable { version: v.version })
        } else {
            Err(reasons.into_iter().map(str::to_owned).collect())
        };
        Ok(Gate {
            files,
            verification: ver,
            quarantined,
            outcome,
        })
    }
}

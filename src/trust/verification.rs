//! What a version's signatures are worth now: each stored signature re-verified
//! against the keys, revocations and expiries as they are at this moment.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::policy::NamespacePolicy;
use crate::api::{Refusal, SignatureTally, UncountedSignature};
use crate::kinds::{Algorithm, RefusalReason, RevocationReason, SignatureState};
use crate::names::KeyId;
use crate::registry::resources;
use crate::signing::keys::{HeldChecks, PublicKey, TrustedKey, parse_public_key};
use crate::signing::verify::{Expected, Rejection, Times, VerifiedSignature, verify};
use crate::store::{FileRecord, KeyRecord, SignatureRecord, VersionRecord};

/// Counts a verification by its result, and passes it on.
pub(super) fn counted(
    outcome: std::result::Result<VerifiedSignature, Rejection>,
) -> std::result::Result<VerifiedSignature, Rejection> {
    crate::metrics::verification(state_of(&outcome).as_str());
    outcome
}

fn state_of(outcome: &std::result::Result<VerifiedSignature, Rejection>) -> SignatureState {
    match outcome {
        Ok(_) => SignatureState::Verified,
        Err(r) => r.state(),
    }
}

/// One stored signature, judged now.
#[derive(Debug, Clone)]
pub struct SignatureStatus {
    pub keyid: KeyId,
    pub key_name: String,
    /// The algorithm of the trusted key it names, if one does.
    pub key_algorithm: Option<Algorithm>,
    pub received_at: chrono::DateTime<Utc>,
    /// `Ok` when it counts now.
    pub outcome: std::result::Result<VerifiedSignature, Rejection>,
}

impl SignatureStatus {
    /// `verified`, or why it does not count.
    pub fn state(&self) -> SignatureState {
        state_of(&self.outcome)
    }
}

/// What a version's signatures are worth now, under its namespace's policy.
#[derive(Debug, Clone)]
pub struct Verification {
    pub signatures: Vec<SignatureStatus>,
    pub policy: NamespacePolicy,
    /// The trust epoch the keys and policy were read at.
    pub(super) epoch: i64,
    sealed: bool,
}

impl Verification {
    /// Judges `stored` signatures of `v` (with `files`) against `keys`, now.
    #[allow(clippy::too_many_arguments)]
    pub fn judge(
        epoch: i64,
        registry: &str,
        v: &VersionRecord,
        files: &[FileRecord],
        stored: Vec<SignatureRecord>,
        keys: &[TrustedKey],
        policy: NamespacePolicy,
        held: &dyn HeldChecks,
    ) -> Self {
        let sorted = resources(files);
        let model = v.model_ref();
        let expected = Expected::new(registry, &model, v.version, &v.lineage.0, &sorted)
            .with_provenance(v.provenance.as_ref().map(|p| &p.0));
        let now = Utc::now();
        let signatures = stored
            .into_iter()
            .map(|s| {
                let key = keys.iter().find(|k| k.keyid == s.keyid);
                SignatureStatus {
                    key_name: key.map(|k| k.name.clone()).unwrap_or_default(),
                    key_algorithm: key.map(|k| k.key.algorithm()),
                    outcome: counted(verify(
                        s.envelope.as_bytes(),
                        keys,
                        &expected,
                        Times {
                            received_at: s.received_at,
                            now,
                        },
                        held,
                    )),
                    keyid: s.keyid,
                    received_at: s.received_at,
                }
            })
            .collect();
        Self {
            signatures,
            policy,
            epoch,
            sealed: v.is_sealed(),
        }
    }

    /// Distinct keys whose signatures count now, by key material: a key
    /// registered twice (before registrations were refused) still counts once.
    /// Content-only signatures count only when `content_only` says they may.
    pub fn verified_keys(&self, content_only: bool) -> BTreeSet<&KeyId> {
        self.signatures
            .iter()
            .filter_map(|s| s.outcome.as_ref().ok())
            .filter(|v| content_only || !v.content_only())
            .map(VerifiedSignature::material)
            .collect()
    }

    /// Sealed, and signed by at least `min_signatures` trusted keys, now, over
    /// this model, version and lineage (content-only signatures do not make a
    /// version pullable by deployers).
    pub fn is_verified(&self) -> bool {
        self.sealed && self.verified_keys(false).len() >= self.policy.min_signatures.max(1) as usize
    }

    /// Every reason why signatures do not suffice, with what was counted:
    /// for `alias`, or without one for a deployer's pull (where content-only
    /// signatures never count).
    pub(super) fn signature_refusals(&self, alias: Option<&str>) -> Vec<Refusal> {
        let accepts = alias.is_some_and(|a| self.policy.content_only_aliases.contains(a));
        let reasons = self.signature_reasons(accepts);
        if reasons.is_empty() {
            return Vec::new();
        }
        let tally = SignatureTally {
            counted: self.verified_keys(accepts).len() as u32,
            required: self.policy.min_signatures,
            not_counted: self
                .signatures
                .iter()
                .filter_map(|s| {
                    let status = match &s.outcome {
                        Err(r) => r.state(),
                        Ok(v) if v.content_only() && !accepts => SignatureState::Verified,
                        Ok(_) => return None,
                    };
                    Some(UncountedSignature {
                        keyid: s.keyid.to_string(),
                        key_name: s.key_name.clone(),
                        status,
                    })
                })
                .collect(),
        };
        reasons
            .into_iter()
            .map(|reason| Refusal {
                signatures: Some(tally.clone()),
                ..Refusal::new(reason, signature_message(reason, &tally))
            })
            .collect()
    }

    /// Every reason why signatures do not suffice, content-only signatures
    /// counting when `accepts` says they may.
    fn signature_reasons(&self, accepts: bool) -> BTreeSet<RefusalReason> {
        let mut out = BTreeSet::new();
        if !self.sealed {
            out.insert(RefusalReason::NotSealed);
            return out;
        }
        let verified = self.verified_keys(accepts).len();
        let only_content = !accepts && !self.verified_keys(true).is_empty();
        if self.signatures.is_empty() {
            out.insert(RefusalReason::Unsigned);
        } else if verified == 0 && only_content {
            out.insert(RefusalReason::ContentOnly);
        } else if verified == 0 {
            for s in &self.signatures {
                if let Err(r) = s.outcome {
                    out.insert(match r {
                        Rejection::KeyRevoked => RefusalReason::KeyRevoked,
                        _ => RefusalReason::SignatureInvalid,
                    });
                }
            }
        } else if verified < self.policy.min_signatures as usize {
            out.insert(RefusalReason::InsufficientSignatures);
        }
        out
    }
}

/// The line a signature reason is explained with.
fn signature_message(reason: RefusalReason, t: &SignatureTally) -> String {
    let keys = |t: &SignatureTally| {
        t.not_counted
            .iter()
            .map(|s| match s.key_name.as_str() {
                "" => format!("{} ({})", short(&s.keyid), s.status),
                name => format!("{name} {} ({})", short(&s.keyid), s.status),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match reason {
        RefusalReason::NotSealed => {
            "the version is a draft: seal it, then sign it with a trusted key".into()
        }
        RefusalReason::Unsigned => {
            "no signature is stored: sign it with a key trusted for the namespace".into()
        }
        RefusalReason::ContentOnly => format!(
            "only content-only signatures (model_signing) verify, which do not bind the model,              version and lineage: sign it with `signet sign`, or name the alias in the              policy's content_only_aliases; not counted: {}",
            keys(t)
        ),
        RefusalReason::KeyRevoked => format!(
            "the keys that signed were revoked: {}; sign it again with a trusted key",
            keys(t)
        ),
        RefusalReason::SignatureInvalid => format!(
            "no stored signature verifies with a trusted key: {}; sign it with a key trusted              for the namespace",
            keys(t)
        ),
        _ => format!(
            "{} of the {} signatures by distinct trusted keys the policy requires verify:              add signatures by other trusted keys",
            t.counted, t.required
        ),
    }
}

/// The first 12 hex digits of a key id, as the client shows them.
fn short(keyid: &str) -> &str {
    keyid.get(..12).unwrap_or(keyid)
}

/// Converts stored key rows into verifier keys. A row that no longer parses is
/// skipped: it can only fail to verify. Revocation follows the key material, not
/// the row: when one registration of a key is revoked as compromised, every
/// registration of the same key is.
pub fn trusted_keys(rows: Vec<KeyRecord>) -> Vec<TrustedKey> {
    let parsed: Vec<(KeyRecord, PublicKey)> = rows
        .into_iter()
        .filter_map(|k| parse_public_key(&k.public_key).ok().map(|p| (k, p)))
        .collect();
    let compromised: BTreeMap<&KeyId, DateTime<Utc>> = parsed
        .iter()
        .filter_map(|(k, p)| match (k.revocation_reason, k.revoked_at) {
            (Some(RevocationReason::Compromised), Some(at)) => Some((&p.id, at)),
            _ => None,
        })
        .collect();
    parsed
        .iter()
        .map(|(k, p)| {
            let revoked = match (compromised.get(&p.id), k.revocation_reason, k.revoked_at) {
                (Some(at), _, _) => Some((RevocationReason::Compromised, *at)),
                (None, Some(r), Some(at)) => Some((r, at)),
                _ => None,
            };
            TrustedKey {
                keyid: k.keyid.clone(),
                material: p.id.clone(),
                name: k.name.clone(),
                key: p.key,
                namespaces: k.namespaces.0.clone(),
                expires_at: k.expires_at,
                revoked,
            }
        })
        .collect()
}

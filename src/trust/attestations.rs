//! Attestations on sealed versions: verified on arrival against the keys
//! trusted for the namespace (as signatures are), kept verbatim; judged again
//! at every promotion against the stage's rules.

use chrono::{DateTime, Utc};
use sha2::Digest as _;
use uuid::Uuid;

use super::Trust;
use super::policy::AttestationRule;
use super::rules;
use crate::api::{AttestationCheck, Refusal, UncountedAttestation, UnmetCondition};
use crate::auth::{Permit, Publish, Read};
use crate::error::{Error, Result};
use crate::kinds::RefusalReason;
use crate::names::{KeyId, ModelName, VersionNumber};
use crate::registry::resources;
use crate::signing::attestation::{self, Covers};
use crate::signing::bundle::bundle_for;
use crate::signing::dsse::CheckedEnvelope;
use crate::signing::keys::{TrustedKey, VerifierKey};
use crate::signing::verify::{Expected, Rejection, Times, check_bundle_media_type, signer};
use crate::store::{AttestationRecord, FileRecord, VersionRecord};

/// Most attestations one version holds.
pub const MAX_PER_VERSION: usize = 256;

/// An attestation kept, with what was read of it.
pub struct KeptAttestation {
    pub record: AttestationRecord,
    pub key_name: String,
    pub covers: Covers,
}

/// One stored attestation, judged now.
#[derive(Debug, Clone)]
pub(super) struct JudgedAttestation {
    id: Uuid,
    predicate_type: String,
    keyid: KeyId,
    key_name: String,
    received_at: DateTime<Utc>,
    /// The statement, when a trusted key's signature verifies now and the
    /// statement is about this version, with its Sigstore bundle naming that
    /// key; why not otherwise.
    outcome: std::result::Result<Counted, Rejection>,
}

/// An attestation that counts now: its statement, its envelope and the key
/// that verified it (what its Sigstore bundle is made of, without a second
/// read of the key).
#[derive(Debug, Clone)]
struct Counted {
    statement: serde_json::Value,
    envelope: CheckedEnvelope,
    key: VerifierKey,
    material: KeyId,
}

impl Trust {
    /// Verifies an attestation (a DSSE envelope of an in-toto statement, or a
    /// Sigstore bundle carrying one) on arrival and keeps it verbatim.
    pub async fn add_attestation(
        &self,
        permit: &Permit<Publish>,
        name: &ModelName,
        number: VersionNumber,
        doc: &[u8],
    ) -> Result<KeptAttestation> {
        let v = self.registry.version(permit, name, number).await?;
        if !v.is_sealed() {
            return Err(Error::VersionNotSealed);
        }
        let files = self.registry.files_of(&v).await?;
        let sorted = resources(&files);
        let model = v.model_ref();
        let expected = Expected::new(
            self.registry.name(),
            &model,
            v.version,
            &v.lineage.0,
            &sorted,
        );
        check_bundle_media_type(doc).map_err(Error::SignatureRejected)?;
        let keys = super::trusted_keys(self.keys.all_keys().await?);
        let now = Utc::now();
        let at = Times {
            received_at: now,
            now,
        };
        let (env, key) = signer(doc, &keys, &model.namespace, at, self.cache.checks())
            .map_err(Error::SignatureRejected)?;
        let attested =
            attestation::judge(&env.payload, &expected).map_err(Error::InvalidAttestation)?;
        let envelope = String::from_utf8(doc.to_vec())
            .map_err(|_| Error::SignatureRejected(Rejection::SignatureInvalid))?;
        let record = AttestationRecord {
            id: Uuid::new_v4(),
            predicate_type: attested.predicate_type,
            keyid: key.keyid.clone(),
            digest: hex::encode(sha2::Sha256::digest(doc)),
            envelope,
            received_at: now,
            received_by: permit.by().clone(),
        };
        permit.record("version", number.get().into());
        permit.record("attestation", record.id.to_string().into());
        permit.record("predicate_type", record.predicate_type.clone().into());
        permit.record("keyid", key.keyid.to_string().into());
        self.keys
            .add_attestation(v.id, &record, MAX_PER_VERSION, &permit.pending())
            .await?;
        Ok(KeptAttestation {
            record,
            key_name: key.name.clone(),
            covers: attested.covers,
        })
    }

    /// A version's attestations (of one predicate type, when given), oldest
    /// first, verbatim.
    pub async fn attestations(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
        predicate_type: Option<&str>,
    ) -> Result<Vec<AttestationRecord>> {
        let v = self.registry.version(permit, name, number).await?;
        self.keys.attestations_of(v.id, predicate_type).await
    }

    /// One attestation of a version.
    pub async fn attestation(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
        id: Uuid,
    ) -> Result<AttestationRecord> {
        let v = self.registry.version(permit, name, number).await?;
        self.keys.attestation(v.id, id).await
    }

    /// One attestation as a Sigstore bundle v0.3 naming the key that signed
    /// it.
    pub async fn attestation_bundle(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
        id: Uuid,
    ) -> Result<serde_json::Value> {
        let a = self.attestation(permit, name, number, id).await?;
        self.bundle_of(&a.keyid, &a.envelope).await
    }

    /// A version's attestations judged now, at trust epoch `epoch`: read
    /// only when some stage of its namespace requires attestations.
    pub(super) async fn judged_attestations(
        &self,
        v: &VersionRecord,
        files: &[FileRecord],
        epoch: i64,
        rules_exist: bool,
    ) -> Result<Vec<JudgedAttestation>> {
        if !rules_exist || !v.is_sealed() {
            return Ok(Vec::new());
        }
        let stored = self.keys.attestations_of(v.id, None).await?;
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys_at(epoch).await?;
        let sorted = resources(files);
        let model = v.model_ref();
        let expected = Expected::new(
            self.registry.name(),
            &model,
            v.version,
            &v.lineage.0,
            &sorted,
        );
        let now = Utc::now();
        Ok(stored
            .into_iter()
            .map(|a| judge(a, &keys, &expected, now, self.cache.checks()))
            .collect())
    }

    /// The attestations of a version that count now (a trusted key's
    /// signature verifies), each as a Sigstore bundle naming its key, oldest
    /// first: what the OCI face offers as referrers beside the signatures.
    pub(super) async fn offered_attestations(
        &self,
        details: &super::VersionDetails,
    ) -> Result<Vec<super::OfferedBundle>> {
        let v = &details.version;
        let epoch = details.verification.epoch;
        let judged = self
            .judged_attestations(v, &details.files, epoch, true)
            .await?;
        Ok(judged
            .into_iter()
            .filter_map(|a| {
                let c = a.outcome.ok()?;
                let bundle = bundle_for(&c.envelope, &c.key, &c.material)?;
                Some(super::OfferedBundle {
                    bundle,
                    keyid: a.keyid,
                    received_at: a.received_at,
                })
            })
            .collect())
    }
}

fn judge(
    a: AttestationRecord,
    keys: &[TrustedKey],
    expected: &Expected<'_>,
    now: DateTime<Utc>,
    held: &dyn crate::signing::keys::HeldChecks,
) -> JudgedAttestation {
    let at = Times {
        received_at: a.received_at,
        now,
    };
    let signed = signer(a.envelope.as_bytes(), keys, expected.namespace(), at, held);
    let (keyid, key_name) = match &signed {
        Ok((_, k)) => (k.keyid.clone(), k.name.clone()),
        Err(_) => {
            let name = keys
                .iter()
                .find(|k| k.keyid == a.keyid)
                .map(|k| k.name.clone());
            (a.keyid.clone(), name.unwrap_or_default())
        }
    };
    let outcome = signed.and_then(|(env, key)| {
        let statement = attestation::judge(&env.payload, expected)
            .map_err(|_| Rejection::StatementMismatch)?
            .statement;
        Ok(Counted {
            statement,
            envelope: env,
            key: key.key,
            material: key.material.clone(),
        })
    });
    JudgedAttestation {
        id: a.id,
        predicate_type: a.predicate_type,
        keyid,
        key_name,
        received_at: a.received_at,
        outcome,
    }
}

/// Why promotion to `alias` fails `rule`, or nothing when it holds: the
/// newest attestation of its type that verifies now, by a signer it accepts,
/// must meet every condition.
pub(super) fn rule_refusal(
    alias: &str,
    rule: &AttestationRule,
    judged: &[JudgedAttestation],
) -> Option<Refusal> {
    judge_rule(alias, rule, judged).err().map(|r| *r)
}

/// [`rule_refusal`], answering the attestation that meets the rule when it
/// holds.
pub(super) fn judge_rule(
    alias: &str,
    rule: &AttestationRule,
    judged: &[JudgedAttestation],
) -> std::result::Result<Uuid, Box<Refusal>> {
    let accepts = |a: &JudgedAttestation| {
        rule.signers.is_empty()
            || rule.signers.contains(a.keyid.as_str())
            || (!a.key_name.is_empty() && rule.signers.contains(&a.key_name))
    };
    let of_type = judged
        .iter()
        .filter(|a| a.predicate_type == rule.predicate_type);
    let mut not_counted = Vec::new();
    let mut newest: Option<(&JudgedAttestation, &serde_json::Value)> = None;
    for a in of_type {
        let status = match &a.outcome {
            Err(r) => r.code().to_owned(),
            Ok(_) if !accepts(a) => "signer_not_accepted".to_owned(),
            Ok(counted) => {
                if newest.is_none_or(|(n, _)| (a.received_at, a.id) > (n.received_at, n.id)) {
                    newest = Some((a, &counted.statement));
                }
                continue;
            }
        };
        not_counted.push(UncountedAttestation {
            id: a.id,
            keyid: a.keyid.to_string(),
            key_name: a.key_name.clone(),
            status,
        });
    }
    let mut check = AttestationCheck {
        predicate_type: rule.predicate_type.clone(),
        signers: rule.signers.iter().cloned().collect(),
        attestation: None,
        unmet: Vec::new(),
        not_counted,
    };
    let by = match rule.signers.is_empty() {
        true => String::new(),
        false => format!(
            " signed by {}",
            rule.signers
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    let Some((a, statement)) = newest else {
        let seen = match check.not_counted.is_empty() {
            true => "none is stored".to_owned(),
            false => format!(
                "those stored do not count: {}",
                check
                    .not_counted
                    .iter()
                    .map(|n| match n.key_name.as_str() {
                        "" => format!("{} ({})", n.id, n.status),
                        name => format!("{} by {name} ({})", n.id, n.status),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(Box::new(Refusal {
            stage: Some(alias.to_owned()),
            attestation: Some(check),
            ..Refusal::new(
                RefusalReason::AttestationMissing,
                format!(
                    "{alias} requires an attestation of {}{by} that verifies with a trusted key; \
                     {seen}: attest the version with `signet attest`",
                    rule.predicate_type
                ),
            )
        }));
    };
    check.attestation = Some(a.id);
    check.unmet = rule
        .conditions
        .iter()
        .filter_map(|c| {
            rules::holds(c, statement).err().map(|why| UnmetCondition {
                condition: c.clone(),
                outcome: why.describe(),
            })
        })
        .collect();
    if check.unmet.is_empty() {
        return Ok(a.id);
    }
    let conditions: Vec<String> = check.unmet.iter().map(|u| u.condition.clone()).collect();
    Err(Box::new(Refusal {
        stage: Some(alias.to_owned()),
        attestation: Some(check),
        ..Refusal::new(
            RefusalReason::AttestationUnmet,
            format!(
                "{alias} requires of the {} attestation that {}; the newest that counts ({}) \
                 does not meet it: attest a version that does",
                rule.predicate_type,
                conditions.join(" and "),
                a.id
            ),
        )
    }))
}

//! The promotion gate: every reason a version cannot be promoted to an alias
//! now, or the proof that it can; and the same checks, those that do not
//! depend on a stage, for what deployers may pull.

use std::collections::BTreeSet;

use chrono::Utc;

use super::attestations::{JudgedAttestation, judge_rule, rule_refusal};
use super::policy::{DeployerPulls, UnknownFormats};
use super::verification::Verification;
use super::{Trust, VersionDetails};
use crate::api::{FileFinding, QuarantineHold, Refusal};
use crate::auth::{Permit, Read};
use crate::error::Result;
use crate::kinds::{FileFormat, RefusalReason};
use crate::names::{AliasName, ModelName, VersionNumber};
use crate::store::{FileRecord, VersionRecord};

/// What the gate found: the files and signatures it judged, and its verdict.
pub struct Gate {
    pub files: Vec<FileRecord>,
    pub verification: Verification,
    pub quarantined: bool,
    /// The proof, or every reason for refusing.
    pub outcome: std::result::Result<Promotable, Vec<Refusal>>,
}

/// Proof that a version passed the gate for one alias. Only
/// [`Trust::check_promotion`] makes one, and only promotion accepts it.
#[derive(Debug)]
pub struct Promotable {
    pub(super) version: VersionNumber,
    pub(super) alias: AliasName,
    /// The rules that held, as the promotion record states them.
    pub(super) held: serde_json::Value,
}

/// What the gate judges a version by, read once: its files, its signatures
/// judged now, and the quarantines holding it (none: not quarantined).
struct Judged<'a> {
    version: &'a VersionRecord,
    files: &'a [FileRecord],
    verification: &'a Verification,
    holds: Option<&'a [QuarantineHold]>,
    /// Its attestations judged now (read only where a stage requires some).
    attestations: &'a [JudgedAttestation],
}

impl Trust {
    /// Every reason a version cannot be promoted to `alias` now, or the proof
    /// that it can.
    pub async fn check_promotion(&self, v: &VersionRecord, alias: &AliasName) -> Result<Gate> {
        let files = self.registry.files_of(v).await?;
        let (ver, quarantined) = self.standing(v, &files).await?;
        let holds = self.holds(v, quarantined).await?;
        let rules = ver
            .policy
            .attestations_required
            .contains_key(alias.as_str());
        let attestations = self
            .judged_attestations(v, &files, ver.epoch, rules)
            .await?;
        let judged = Judged {
            version: v,
            files: &files,
            verification: &ver,
            holds: holds.as_deref(),
            attestations: &attestations,
        };
        let reasons = judged.refusals(Some(alias));
        let outcome = if reasons.is_empty() {
            Ok(Promotable {
                version: v.version,
                alias: alias.clone(),
                held: judged.held(alias),
            })
        } else {
            Err(reasons)
        };
        Ok(Gate {
            files,
            verification: ver,
            quarantined,
            outcome,
        })
    }

    /// The quarantines holding a version the cache says is quarantined.
    async fn holds(
        &self,
        v: &VersionRecord,
        quarantined: bool,
    ) -> Result<Option<Vec<QuarantineHold>>> {
        if !quarantined {
            return Ok(None);
        }
        let held = self.lineage.quarantines_holding(v.id).await?;
        Ok(Some(
            held.into_iter()
                .map(|q| QuarantineHold {
                    id: q.id,
                    kind: q.target.kind(),
                    value: q.target.value(),
                    reason: q.reason,
                    created_by: q.created_by.to_string(),
                    created_at: q.created_at,
                })
                .collect(),
        ))
    }

    /// Every reason a deployer may not pull this version now (none: it may):
    /// the gate's checks that do not depend on a stage, and under
    /// `deployer_pulls: aliased`, that an alias points at it or did within
    /// the grace period.
    pub(super) async fn pull_refusals(&self, details: &VersionDetails) -> Result<Vec<Refusal>> {
        let holds = self.holds(&details.version, details.quarantined).await?;
        let judged = Judged::of(details, holds.as_deref(), &[]);
        self.pull_refusals_of(&judged, details).await
    }

    /// [`Trust::pull_refusals`] of a version already judged.
    async fn pull_refusals_of(
        &self,
        judged: &Judged<'_>,
        details: &VersionDetails,
    ) -> Result<Vec<Refusal>> {
        let v = &details.version;
        let mut reasons = judged.refusals(None);
        let policy = &details.verification.policy;
        if policy.deployer_pulls == DeployerPulls::Aliased && details.aliases.is_empty() {
            let grace = chrono::Duration::minutes(policy.aliased_grace_minutes.into());
            let left = self
                .aliases
                .left_since(&v.model_ref(), v.version, Utc::now() - grace)
                .await?;
            if !left {
                reasons.push(Refusal::new(
                    RefusalReason::NotAliased,
                    format!(
                        "no alias points at version {} (nor did in the last {} minutes), and \
                         the namespace's policy lets deployers pull only aliased versions: \
                         promote it, or pull an alias",
                        v.version, policy.aliased_grace_minutes
                    ),
                ));
                reasons.sort_by_key(|r| r.reason.as_str());
            }
        }
        Ok(reasons)
    }

    /// A version as a reader sees it, with its standing at every alias its
    /// namespace's policy names or its model already uses: each alias with
    /// every reason promotion to it would be refused now (none: it would pass),
    /// and every reason a deployer could not pull it.
    pub async fn gate_panel(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<GatePanel> {
        let details = self.version(permit, name, number).await?;
        let model = self.registry.model(permit, name).await?;
        let policy = &details.verification.policy;
        let mut aliases: BTreeSet<String> = policy.lineage_required.keys().cloned().collect();
        aliases.extend(policy.content_only_aliases.iter().cloned());
        aliases.extend(policy.attestations_required.keys().cloned());
        aliases.extend(model.aliases.iter().map(|(a, _)| a.to_string()));
        let holds = self.holds(&details.version, details.quarantined).await?;
        let v = &details.version;
        let rules = !policy.attestations_required.is_empty();
        let attestations = self
            .judged_attestations(v, &details.files, details.verification.epoch, rules)
            .await?;
        let judged = Judged::of(&details, holds.as_deref(), &attestations);
        let gates = aliases
            .into_iter()
            .filter_map(|a| AliasName::parse(&a).ok())
            .map(|alias| {
                let reasons = judged.refusals(Some(&alias));
                (alias, reasons)
            })
            .collect();
        let pull = self.pull_refusals_of(&judged, &details).await?;
        Ok(GatePanel {
            details,
            gates,
            pull,
        })
    }
}

/// A version with its standing at each alias (see [`Trust::gate_panel`]).
pub struct GatePanel {
    pub details: VersionDetails,
    pub gates: Vec<(AliasName, Vec<Refusal>)>,
    /// Why a deployer could not pull it now (none: a deployer could).
    pub pull: Vec<Refusal>,
}

impl<'a> Judged<'a> {
    fn of(
        details: &'a VersionDetails,
        holds: Option<&'a [QuarantineHold]>,
        attestations: &'a [JudgedAttestation],
    ) -> Self {
        Self {
            version: &details.version,
            files: &details.files,
            verification: &details.verification,
            holds,
            attestations,
        }
    }

    /// Every reason promotion to `alias` (without one: a deployer's pull) is
    /// refused, by code alphabetically (as the API has always answered them);
    /// none when it passes.
    fn refusals(&self, alias: Option<&AliasName>) -> Vec<Refusal> {
        let ver = self.verification;
        let mut out = ver.signature_refusals(alias.map(AliasName::as_str));
        if let Some(alias) = alias {
            out.extend(self.lineage_refusal(alias));
            let rules = ver.policy.attestations_required.get(alias.as_str());
            out.extend(
                rules
                    .into_iter()
                    .flatten()
                    .filter_map(|r| rule_refusal(alias.as_str(), r, self.attestations)),
            );
        }
        let unsafe_files = self.findings(|f| f.is_unsafe());
        if !ver.policy.allow_unsafe_formats && !unsafe_files.is_empty() {
            out.push(Refusal {
                message: format!(
                    "{} can run code when loaded; store the weights as safetensors (or another \
                     format that cannot), or set allow_unsafe_formats in the namespace's policy",
                    listed(&unsafe_files)
                ),
                files: unsafe_files,
                ..Refusal::new(RefusalReason::UnsafeFormat, "")
            });
        }
        let unknown = self.findings(|f| f == FileFormat::Unknown);
        if ver.policy.unknown_formats == UnknownFormats::Deny && !unknown.is_empty() {
            out.push(Refusal {
                message: format!(
                    "{} {} of no recognised format, which the namespace's policy denies \
                     (unknown_formats: deny)",
                    listed(&unknown),
                    if unknown.len() == 1 { "is" } else { "are" }
                ),
                files: unknown,
                ..Refusal::new(RefusalReason::UnknownFormat, "")
            });
        }
        if let Some(holds) = self.holds {
            out.push(quarantine_refusal(holds));
        }
        out.sort_by_key(|r| r.reason.as_str());
        out
    }

    /// The rules that held for promotion to `alias` (the gate passed): the
    /// signatures counted, the lineage fields required, and for each
    /// attestation rule the attestation that met it.
    fn held(&self, alias: &AliasName) -> serde_json::Value {
        let policy = &self.verification.policy;
        let accepts = policy.content_only_aliases.contains(alias.as_str());
        let keys: Vec<String> = self
            .verification
            .verified_keys(accepts)
            .into_iter()
            .map(|k| k.to_string())
            .collect();
        let lineage: Vec<&str> = policy
            .lineage_required
            .get(alias.as_str())
            .into_iter()
            .flatten()
            .map(|f| f.as_str())
            .collect();
        let attestations: Vec<serde_json::Value> = policy
            .attestations_required
            .get(alias.as_str())
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let id = judge_rule(alias.as_str(), r, self.attestations).ok()?;
                Some(serde_json::json!({
                    "predicateType": r.predicate_type,
                    "signers": r.signers,
                    "conditions": r.conditions,
                    "attestation": id,
                }))
            })
            .collect();
        serde_json::json!({
            "signatures": {"required": policy.min_signatures, "keys": keys},
            "lineage": lineage,
            "attestations": attestations,
            "allowUnsafeFormats": policy.allow_unsafe_formats,
            "unknownFormats": policy.unknown_formats,
        })
    }

    /// The files whose format `which` picks, with their findings.
    fn findings(&self, which: impl Fn(FileFormat) -> bool) -> Vec<FileFinding> {
        self.files
            .iter()
            .filter(|f| which(f.format))
            .map(|f| FileFinding {
                path: f.path.to_string(),
                format: f.format,
                finding: f.format_reason.clone(),
            })
            .collect()
    }

    /// The lineage fields `alias` requires that the version's lineage lacks.
    fn lineage_refusal(&self, alias: &AliasName) -> Option<Refusal> {
        let need = self
            .verification
            .policy
            .lineage_required
            .get(alias.as_str())?;
        let missing: Vec<String> = need
            .iter()
            .filter(|f| !f.present(&self.version.lineage.0))
            .map(|f| f.as_str().to_owned())
            .collect();
        if missing.is_empty() {
            return None;
        }
        Some(Refusal {
            message: format!(
                "{alias} requires {} in the lineage, which lacks {}: push a new version whose \
                 lineage records {}",
                need.iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            ),
            stage: Some(alias.to_string()),
            missing,
            ..Refusal::new(RefusalReason::LineageIncomplete, "")
        })
    }
}

/// `model.pkl (pickle opcode GLOBAL at byte 53), …`: at most five named.
fn listed(files: &[FileFinding]) -> String {
    let mut named: Vec<String> = files
        .iter()
        .take(5)
        .map(|f| match f.finding.as_str() {
            "" => format!("{} ({})", f.path, f.format),
            why => format!("{} ({why})", f.path),
        })
        .collect();
    if files.len() > 5 {
        named.push(format!("and {} more", files.len() - 5));
    }
    named.join(", ")
}

fn quarantine_refusal(holds: &[QuarantineHold]) -> Refusal {
    let named: Vec<String> = holds
        .iter()
        .map(|q| {
            format!(
                "quarantine {} of {} {} by {}: {:?}",
                q.id, q.kind, q.value, q.created_by, q.reason
            )
        })
        .collect();
    let message = match named.is_empty() {
        true => "the version, or something it was built from, is quarantined".to_owned(),
        false => format!(
            "held by {}; a maintainer lifts it once it is cleared",
            named.join("; ")
        ),
    };
    Refusal {
        quarantines: holds.to_vec(),
        ..Refusal::new(RefusalReason::Quarantined, message)
    }
}

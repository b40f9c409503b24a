//! The promotion gate: every reason a version cannot be promoted to an alias
//! now, or the proof that it can.

use std::collections::BTreeSet;

use super::policy::UnknownFormats;
use super::verification::Verification;
use super::{Trust, VersionDetails};
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
    pub outcome: std::result::Result<Promotable, Vec<RefusalReason>>,
}

/// Proof that a version passed the gate for one alias. Only
/// [`Trust::check_promotion`] makes one, and only promotion accepts it.
#[derive(Debug)]
pub struct Promotable {
    pub(super) version: VersionNumber,
    pub(super) alias: AliasName,
}

impl Trust {
    /// Every reason a version cannot be promoted to `alias` now, or the proof
    /// that it can.
    pub async fn check_promotion(&self, v: &VersionRecord, alias: &AliasName) -> Result<Gate> {
        let files = self.registry.files_of(v).await?;
        let (ver, quarantined) = self.standing(v, &files).await?;
        let reasons = refusals(v, &files, &ver, quarantined, alias);
        let outcome = if reasons.is_empty() {
            Ok(Promotable {
                version: v.version,
                alias: alias.clone(),
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

    /// A version as a reader sees it, with its standing at every alias its
    /// namespace's policy names or its model already uses: each alias with
    /// every reason promotion to it would be refused now (none: it would pass).
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
        aliases.extend(model.aliases.iter().map(|(a, _)| a.to_string()));
        let gates = aliases
            .into_iter()
            .filter_map(|a| AliasName::parse(&a).ok())
            .map(|alias| {
                let reasons = refusals(
                    &details.version,
                    &details.files,
                    &details.verification,
                    details.quarantined,
                    &alias,
                );
                (alias, reasons)
            })
            .collect();
        Ok(GatePanel { details, gates })
    }
}

/// A version with its standing at each alias (see [`Trust::gate_panel`]).
pub struct GatePanel {
    pub details: VersionDetails,
    pub gates: Vec<(AliasName, Vec<RefusalReason>)>,
}

/// Every reason promotion of `v` to `alias` is refused, alphabetically (as the
/// API has always answered them); none when it passes.
fn refusals(
    v: &VersionRecord,
    files: &[FileRecord],
    ver: &Verification,
    quarantined: bool,
    alias: &AliasName,
) -> Vec<RefusalReason> {
    let mut reasons: BTreeSet<RefusalReason> = ver.signature_reasons(alias.as_str());
    let lineage_ok = ver
        .policy
        .lineage_required
        .get(alias.as_str())
        .is_none_or(|need| need.iter().all(|f| f.present(&v.lineage.0)));
    if !lineage_ok {
        reasons.insert(RefusalReason::LineageIncomplete);
    }
    if !ver.policy.allow_unsafe_formats && files.iter().any(|f| f.format.is_unsafe()) {
        reasons.insert(RefusalReason::UnsafeFormat);
    }
    let unknown = files.iter().any(|f| f.format == FileFormat::Unknown);
    if ver.policy.unknown_formats == UnknownFormats::Deny && unknown {
        reasons.insert(RefusalReason::UnknownFormat);
    }
    if quarantined {
        reasons.insert(RefusalReason::Quarantined);
    }
    let mut reasons: Vec<RefusalReason> = reasons.into_iter().collect();
    reasons.sort_by_key(|r| r.as_str());
    reasons
}

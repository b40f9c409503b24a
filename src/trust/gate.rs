//! The promotion gate: every reason a version cannot be promoted to an alias
//! now, or the proof that it can.

use std::collections::BTreeSet;

use super::Trust;
use super::policy::UnknownFormats;
use super::verification::Verification;
use crate::error::Result;
use crate::kinds::{FileFormat, RefusalReason};
use crate::names::{AliasName, VersionNumber};
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
        let ver = self.verification(v, &files).await?;
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
        let quarantined = self.lineage.is_quarantined(v.id).await?;
        if quarantined {
            reasons.insert(RefusalReason::Quarantined);
        }
        let outcome = if reasons.is_empty() {
            Ok(Promotable {
                version: v.version,
                alias: alias.clone(),
            })
        } else {
            // Listed alphabetically, as the API has always answered them.
            let mut reasons: Vec<RefusalReason> = reasons.into_iter().collect();
            reasons.sort_by_key(|r| r.as_str());
            Err(reasons)
        };
        Ok(Gate {
            files,
            verification: ver,
            quarantined,
            outcome,
        })
    }
}

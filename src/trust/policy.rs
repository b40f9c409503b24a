//! A namespace's promotion policy.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::signing::verify::lineage_as_data;

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
    /// The field's name as the policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LineageField::CodeCommit => "code.commit",
            LineageField::CodeRepo => "code.repo",
            LineageField::Data => "data",
            LineageField::Environment => "environment",
            LineageField::Parents => "parents",
            LineageField::Run => "run",
        }
    }

    pub(super) fn present(self, lineage: &Value) -> bool {
        let l = lineage_as_data(lineage);
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
    #[serde(default = "one", deserialize_with = "crate::names::integral")]
    pub min_signatures: u32,
    /// Allow promoting versions holding pickle-based files (default false).
    #[serde(default)]
    pub allow_unsafe_formats: bool,
    /// Whether files whose format is not recognised may be promoted (default
    /// `allow`).
    #[serde(default)]
    pub unknown_formats: UnknownFormats,
    /// alias → lineage fields it requires. Default: `production` requires
    /// `code.commit`, `data` and `environment`.
    #[serde(default = "default_lineage_required")]
    pub lineage_required: BTreeMap<String, BTreeSet<LineageField>>,
    /// Aliases whose promotions accept content-only signatures (made by
    /// `model_signing sign`, binding the files but not the model, version or
    /// lineage) toward `min_signatures`. Default: none.
    #[serde(default)]
    pub content_only_aliases: BTreeSet<String>,
    /// What deployers may pull: `gated` (default) any version that passes the
    /// gate's checks that do not depend on a stage; `aliased` only such a
    /// version that an alias points at, or did within `aliased_grace_minutes`.
    #[serde(default)]
    pub deployer_pulls: DeployerPulls,
    /// Under `deployer_pulls: aliased`, how long after an alias moves away from
    /// a version deployers may still pull it (an in-flight rollout, a
    /// rollback). Default 60, at most 10080 (a week).
    #[serde(default = "sixty", deserialize_with = "crate::names::integral")]
    pub aliased_grace_minutes: u32,
    /// alias → the attestations promotion to it requires, each with who must
    /// have signed it and conditions on what it says. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attestations_required: BTreeMap<String, Vec<AttestationRule>>,
}

/// A promotion rule: an attestation a stage requires. The newest attestation
/// of the predicate type that verifies now, signed by an accepted signer, is
/// the one judged; every condition must hold on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationRule {
    /// The in-toto predicate type required
    /// (`https://signet.dev/attestations/evaluation/v1`).
    pub predicate_type: String,
    /// Who must have signed it: key ids or key names of keys trusted for the
    /// namespace. Empty: any of them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub signers: BTreeSet<String>,
    /// Conditions on the statement, each a Rego (v1) expression over `input`,
    /// the in-toto statement: `input.predicate.metrics.accuracy >= 0.92`. A
    /// condition that is false or undefined (a field it reads is absent) does
    /// not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

fn sixty() -> u32 {
    60
}

/// What deployers may pull (see [`NamespacePolicy::deployer_pulls`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployerPulls {
    #[default]
    Gated,
    Aliased,
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

/// What promotion does with files of no recognised format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnknownFormats {
    #[default]
    Allow,
    Deny,
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        Self {
            min_signatures: 1,
            allow_unsafe_formats: false,
            unknown_formats: UnknownFormats::Allow,
            lineage_required: default_lineage_required(),
            content_only_aliases: BTreeSet::new(),
            deployer_pulls: DeployerPulls::Gated,
            aliased_grace_minutes: sixty(),
            attestations_required: BTreeMap::new(),
        }
    }
}

impl NamespacePolicy {
    /// Most signatures a policy may require.
    pub const MAX_MIN_SIGNATURES: u32 = 16;
    /// Most aliases `lineage_required` may name.
    pub const MAX_STAGES: usize = 100;
    /// Longest grace `aliased_grace_minutes` may give (a week).
    pub const MAX_GRACE_MINUTES: u32 = 7 * 24 * 60;
    /// Most attestation rules one alias may have, signers one rule may name,
    /// and conditions one rule may hold.
    pub const MAX_RULES: usize = 16;
    /// Longest condition, in characters.
    pub const MAX_CONDITION: usize = 2048;

    pub fn from_stored(v: Value) -> Result<Self> {
        serde_json::from_value(v).map_err(Error::internal)
    }

    /// Checks the bounds serde cannot express.
    pub fn check(&self) -> Result<()> {
        if self.min_signatures == 0 || self.min_signatures > Self::MAX_MIN_SIGNATURES {
            return Err(Error::invalid("min_signatures must be between 1 and 16"));
        }
        if self.aliased_grace_minutes > Self::MAX_GRACE_MINUTES {
            return Err(Error::invalid(format!(
                "aliased_grace_minutes must be between 0 and {}",
                Self::MAX_GRACE_MINUTES
            )));
        }
        if self.lineage_required.len() > Self::MAX_STAGES {
            return Err(Error::invalid(format!(
                "lineage_required names at most {} aliases",
                Self::MAX_STAGES
            )));
        }
        if self.content_only_aliases.len() > Self::MAX_STAGES {
            return Err(Error::invalid(format!(
                "content_only_aliases names at most {} aliases",
                Self::MAX_STAGES
            )));
        }
        if self.attestations_required.len() > Self::MAX_STAGES {
            return Err(Error::invalid(format!(
                "attestations_required names at most {} aliases",
                Self::MAX_STAGES
            )));
        }
        for alias in self
            .lineage_required
            .keys()
            .chain(&self.content_only_aliases)
            .chain(self.attestations_required.keys())
        {
            crate::names::AliasName::parse(alias)?;
        }
        for (alias, rules) in &self.attestations_required {
            check_rules(alias, rules)?;
        }
        Ok(())
    }
}

/// Checks one alias's attestation rules: bounds, predicate types, and that
/// every condition is Rego that compiles.
fn check_rules(alias: &str, rules: &[AttestationRule]) -> Result<()> {
    let max = NamespacePolicy::MAX_RULES;
    if rules.len() > max {
        return Err(Error::invalid(format!(
            "attestations_required.{alias}: at most {max} rules"
        )));
    }
    for r in rules {
        let t = &r.predicate_type;
        if !crate::signing::attestation::valid_predicate_type(t) {
            return Err(Error::invalid(format!(
                "attestations_required.{alias}: predicate_type {t:?} must be a URI of at most {} \
                 characters",
                crate::signing::attestation::MAX_PREDICATE_TYPE
            )));
        }
        if r.signers.len() > max || r.conditions.len() > max {
            return Err(Error::invalid(format!(
                "attestations_required.{alias}: a rule names at most {max} signers and {max} \
                 conditions"
            )));
        }
        if r.signers
            .iter()
            .any(|s| s.is_empty() || s.chars().count() > 128)
        {
            return Err(Error::invalid(format!(
                "attestations_required.{alias}: a signer is a key id or a key name of 1 to 128 \
                 characters"
            )));
        }
        for c in &r.conditions {
            if c.trim().is_empty() || c.chars().count() > NamespacePolicy::MAX_CONDITION {
                return Err(Error::invalid(format!(
                    "attestations_required.{alias}: a condition is a Rego expression of 1 to {} \
                     bytes",
                    NamespacePolicy::MAX_CONDITION
                )));
            }
            super::rules::compile(c).map_err(|why| {
                Error::InvalidRule(format!(
                    "attestations_required.{alias}: the condition `{c}` is not a Rego \
                     expression that compiles: {why}"
                ))
            })?;
        }
    }
    Ok(())
}

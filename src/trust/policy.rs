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
        for alias in self
            .lineage_required
            .keys()
            .chain(&self.content_only_aliases)
        {
            crate::names::AliasName::parse(alias)?;
        }
        Ok(())
    }
}

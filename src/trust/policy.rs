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
        }
    }
}

impl NamespacePolicy {
    /// Most signatures a policy may require.
    pub const MAX_MIN_SIGNATURES: u32 = 16;
    /// Most aliases `lineage_required` may name.
    pub const MAX_STAGES: usize = 100;

    pub fn from_stored(v: Value) -> Result<Self> {
        serde_json::from_value(v).map_err(Error::internal)
    }

    /// Checks the bounds serde cannot express.
    pub fn check(&self) -> Result<()> {
        if self.min_signatures == 0 || self.min_signatures > Self::MAX_MIN_SIGNATURES {
            return Err(Error::invalid("min_signatures must be between 1 and 16"));
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

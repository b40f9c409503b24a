//! The lineage document: what a version was built from. Recorded at creation,
//! frozen at seal, covered by the signature. Parsing validates shapes;
//! `registry::Registry::create_version` checks that parents exist and are sealed.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::names::{CommitId, ModelRef, Sha256, Text, VersionNumber};

/// A short free-text field (at most 1024 characters, no control characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label(Text<1024>);

/// What a label matches: no control character (C0, DEL or C1).
pub const LABEL_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

crate::names::described!(
    Label,
    "Label",
    crate::names::string_schema(LABEL_PATTERN).max_length(Some(1024))
);

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::<1024>::deserialize(d)?;
        if t.as_str().chars().any(char::is_control) {
            return Err(serde::de::Error::custom(
                "text fields are at most 1024 bytes with no control characters",
            ));
        }
        Ok(Self(t))
    }
}

impl Label {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute URI (`s3://…`, `https://…`, `hf://…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uri(String);

crate::names::described!(
    Uri,
    "Uri",
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::schema::SchemaFormat::Custom(
            "uri".into()
        )))
        .max_length(Some(1024))
);

impl<'de> Deserialize<'de> for Uri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() > 1024 || s.chars().any(char::is_control) || url::Url::parse(&s).is_err() {
            return Err(serde::de::Error::custom("not an absolute URI"));
        }
        Ok(Self(s))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Code {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitId>,
}

/// A dataset the model was trained or evaluated on, identified by its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Uri>,
    pub sha256: Sha256,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockfile_sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<Label>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub frameworks: BTreeMap<String, Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Label>,
}

/// A base model this version was fine-tuned from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Parent {
    /// `namespace/name`
    #[serde(serialize_with = "ser_display", deserialize_with = "de_model_ref")]
    pub model: ModelRef,
    pub version: VersionNumber,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Uri>,
}

/// Where a version came from. Every field is optional at creation; promotion
/// policy decides which ones a stage needs. Absent, `null`, `[]` and `{}` mean the
/// same, and the stored form omits them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    #[serde(
        default,
        deserialize_with = "de_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data: Vec<Dataset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(
        default,
        deserialize_with = "de_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parents: Vec<Parent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

/// How many entries a lineage's lists may hold (configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineageBounds {
    pub data: usize,
    pub parents: usize,
    pub frameworks: usize,
}

impl Default for LineageBounds {
    fn default() -> Self {
        Self {
            data: 1000,
            parents: 100,
            frameworks: 100,
        }
    }
}

/// A framework's name: 1 to 200 bytes, no control characters.
pub const MAX_FRAMEWORK_NAME: usize = 200;

impl Lineage {
    /// Checks the limits serde cannot express and drops empty sections, so equal
    /// lineages are stored as equal JSON.
    pub fn validated(mut self, bounds: &LineageBounds) -> Result<Self, String> {
        let over = |what: &str, n: usize, max: usize| {
            (n > max).then(|| format!("{what} holds at most {max} entries"))
        };
        let frameworks = self.environment.as_ref().map_or(0, |e| e.frameworks.len());
        if let Some(e) = over("lineage.data", self.data.len(), bounds.data)
            .or_else(|| over("lineage.parents", self.parents.len(), bounds.parents))
            .or_else(|| {
                over(
                    "lineage.environment.frameworks",
                    frameworks,
                    bounds.frameworks,
                )
            })
        {
            return Err(e);
        }
        let bad_name = |k: &String| {
            k.is_empty() || k.len() > MAX_FRAMEWORK_NAME || k.chars().any(char::is_control)
        };
        if self
            .environment
            .as_ref()
            .is_some_and(|e| e.frameworks.keys().any(bad_name))
        {
            return Err(format!(
                "framework names are 1 to {MAX_FRAMEWORK_NAME} bytes with no control characters"
            ));
        }
        if self.code.as_ref().is_some_and(|c| c == &Code::default()) {
            self.code = None;
        }
        if self
            .environment
            .as_ref()
            .is_some_and(|e| e == &Environment::default())
        {
            self.environment = None;
        }
        if self.run.as_ref().is_some_and(|r| r == &Run::default()) {
            self.run = None;
        }
        Ok(self)
    }
}

fn de_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn ser_display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn de_model_ref<'de, D: Deserializer<'de>>(d: D) -> Result<ModelRef, D::Error> {
    let s = String::deserialize(d)?;
    ModelRef::parse(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Lineage, String> {
        serde_json::from_value::<Lineage>(v)
            .map_err(|e| e.to_string())
            .and_then(|l| l.validated(&LineageBounds::default()))
    }

    #[test]
    fn empty_sections_normalize_away() {
        let a = parse(json!({"code": {}, "data": [], "parents": null, "run": {}})).unwrap();
        assert_eq!(serde_json::to_value(&a).unwrap(), json!({}));
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(parse(json!({"code": {"commit": "abc"}})).is_err());
        assert!(parse(json!({"data": [{"sha256": "00"}]})).is_err());
        assert!(parse(json!({"data": [{"sha256": "00".repeat(32), "uri": "not a uri"}]})).is_err());
        assert!(parse(json!({"parents": [{"model": "noslash", "version": 1}]})).is_err());
        assert!(parse(json!({"parents": [{"model": "a/b", "version": 0}]})).is_err());
        assert!(parse(json!({"verified": true})).is_err());
    }

    #[test]
    fn commit_is_folded_to_lower_case() {
        let l = parse(json!({"code": {"commit": "AB".repeat(20)}})).unwrap();
        assert_eq!(l.code.unwrap().commit.unwrap().as_str(), "ab".repeat(20));
    }
}

//! What the OpenAPI document says beyond the handlers' annotations and the
//! types' own schemas (every value type of `names` and `kinds`, every path
//! extractor and query states its rule itself):
//!
//! - the statuses every operation can answer because of the layers every
//!   request passes through (authentication, authorization, rate limits and
//!   quotas, body limits, deadlines, an unavailable dependency);
//! - the limits a server is configured with (token lifetime, lineage sizes,
//!   the largest file), which no type knows;
//! - three shapes the derive cannot state: a quarantine's value, whose form
//!   follows its kind; free metadata, recursive JSON without NUL; and a
//!   policy's per-alias maps, keyed by alias names.

use serde_json::{Value, json};
use utoipa::{PartialSchema, ToSchema};

use crate::api::{CreateQuarantine, CreateToken, CreateVersion, StartUpload};
use crate::lineage::record::Environment;
use crate::lineage::{Lineage, LineageBounds, MAX_FRAMEWORK_NAME};
use crate::names::{AliasName, CommitId, NO_NUL_PATTERN, Sha256, VERSION_REF_PATTERN};
use crate::signing::attestation::{MAX_PREDICATE_TYPE, PREDICATE_TYPE_PATTERN};
use crate::trust::{AttestationRule, NamespacePolicy};

/// The configured limits the document states (the committed document states
/// the defaults; a server states its own).
#[derive(Debug, Clone, Copy)]
pub struct Advertised {
    pub token_max_days: u32,
    pub lineage: LineageBounds,
    /// The largest file accepted, in bytes.
    pub max_file_size: u64,
}

impl Default for Advertised {
    fn default() -> Self {
        Self {
            token_max_days: 365,
            lineage: LineageBounds::default(),
            max_file_size: 100 << 30,
        }
    }
}

/// The contract's version, as the `/v1` prefix of its routes.
pub const API_VERSION: &str = "1";

/// The component schema of that name.
fn at<'a>(
    schemas: &'a mut serde_json::Map<String, Value>,
    name: std::borrow::Cow<'static, str>,
) -> Option<&'a mut Value> {
    schemas.get_mut(name.as_ref())
}

/// A type's schema as JSON.
fn schema_of<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).expect("a schema serializes")
}

/// Finishes the document: the configured limits, the shapes, every status.
pub fn finish(doc: &mut Value, limits: &Advertised) {
    // The document is public: it states the contract's version, never the
    // build's (which would tell a caller which advisories apply).
    doc["info"]["version"] = json!(API_VERSION);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        if let Some(s) = at(schemas, CreateToken::name()) {
            s["properties"]["expires_in_days"]["minimum"] = json!(1);
            s["properties"]["expires_in_days"]["maximum"] = json!(limits.token_max_days);
        }
        if let Some(s) = at(schemas, Lineage::name()) {
            s["properties"]["data"]["maxItems"] = json!(limits.lineage.data);
            s["properties"]["parents"]["maxItems"] = json!(limits.lineage.parents);
        }
        if let Some(s) = at(schemas, Environment::name()) {
            let frameworks = &mut s["properties"]["frameworks"];
            frameworks["maxProperties"] = json!(limits.lineage.frameworks);
            frameworks["propertyNames"] = json!({
                "type": "string", "minLength": 1, "maxLength": MAX_FRAMEWORK_NAME,
                "pattern": crate::lineage::record::LABEL_PATTERN,
            });
        }
        if let Some(s) = at(schemas, StartUpload::name()) {
            s["properties"]["size"]["maximum"] = json!(limits.max_file_size);
        }
        if let Some(s) = at(schemas, CreateQuarantine::name()) {
            quarantine_value(s);
        }
        if let Some(s) = at(schemas, CreateVersion::name()) {
            let description = s["properties"]["metadata"]["description"].clone();
            s["properties"]["metadata"] = json!({
                "type": "object",
                "description": description,
                "propertyNames": {"type": "string", "pattern": NO_NUL_PATTERN},
                "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"},
            });
        }
        if let Some(s) = at(schemas, NamespacePolicy::name()) {
            policy_maps(s);
        }
        if let Some(s) = at(schemas, AttestationRule::name()) {
            attestation_rule(s);
        }
        schemas.insert("MetadataValue".into(), metadata_value());
    }
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (_, op) in item.as_object_mut().into_iter().flatten() {
            add_statuses(path, op);
        }
    }
}

/// A quarantine's value takes the form its kind names.
fn quarantine_value(schema: &mut Value) {
    let variant =
        |kind: &str, value: Value| json!({"properties": {"kind": {"const": kind}, "value": value}});
    schema["oneOf"] = json!([
        variant("dataset", schema_of::<Sha256>()),
        variant("commit", schema_of::<CommitId>()),
        variant(
            "version",
            json!({"type": "string", "pattern": VERSION_REF_PATTERN})
        ),
    ]);
}

/// The policy's maps are keyed by alias names, and bounded; its minimum of
/// signatures and its grace are bounded too.
fn policy_maps(schema: &mut Value) {
    let props = &mut schema["properties"];
    props["min_signatures"]["minimum"] = json!(1);
    props["min_signatures"]["maximum"] = json!(NamespacePolicy::MAX_MIN_SIGNATURES);
    props["aliased_grace_minutes"]["minimum"] = json!(0);
    props["aliased_grace_minutes"]["maximum"] = json!(NamespacePolicy::MAX_GRACE_MINUTES);
    let lineage = &mut props["lineage_required"];
    lineage["propertyNames"] = schema_of::<AliasName>();
    lineage["maxProperties"] = json!(NamespacePolicy::MAX_STAGES);
    // Repeated fields are accepted (and stored once).
    if let Some(items) = lineage
        .get_mut("additionalProperties")
        .and_then(Value::as_object_mut)
    {
        items.remove("uniqueItems");
    }
    let rules = &mut props["attestations_required"];
    rules["propertyNames"] = schema_of::<AliasName>();
    rules["maxProperties"] = json!(NamespacePolicy::MAX_STAGES);
    rules["additionalProperties"]["maxItems"] = json!(NamespacePolicy::MAX_RULES);
    let aliases = &mut props["content_only_aliases"];
    aliases["items"] = schema_of::<AliasName>();
    aliases["maxItems"] = json!(NamespacePolicy::MAX_STAGES);
    if let Some(a) = aliases.as_object_mut() {
        a.remove("uniqueItems");
    }
}

/// A rule's bounds: a predicate type is a URI; signers and conditions are
/// bounded in number and length (a condition's Rego is checked by compiling
/// it, which no schema states: 422).
fn attestation_rule(schema: &mut Value) {
    let props = &mut schema["properties"];
    props["predicate_type"]["maxLength"] = json!(MAX_PREDICATE_TYPE);
    props["predicate_type"]["pattern"] = json!(PREDICATE_TYPE_PATTERN);
    let max = NamespacePolicy::MAX_RULES;
    props["signers"]["maxItems"] = json!(max);
    props["signers"]["items"] = json!({"type": "string", "minLength": 1, "maxLength": 128});
    if let Some(a) = props["signers"].as_object_mut() {
        a.remove("uniqueItems");
    }
    props["conditions"]["maxItems"] = json!(max);
    props["conditions"]["items"] = json!({
        "type": "string", "minLength": 1, "maxLength": NamespacePolicy::MAX_CONDITION,
        "pattern": "\\S",
    });
}

/// Any JSON value without NUL in its strings or keys (no database stores it).
fn metadata_value() -> Value {
    let no_nul = json!({"type": "string", "pattern": NO_NUL_PATTERN});
    json!({"anyOf": [
        {"type": ["null", "boolean", "number"]},
        no_nul,
        {"type": "array", "items": {"$ref": "#/components/schemas/MetadataValue"}},
        {"type": "object", "propertyNames": no_nul,
         "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"}},
    ]})
}

/// The statuses every operation can answer beyond its own, each with the error
/// envelope.
fn add_statuses(path: &str, op: &mut Value) {
    let api = path.starts_with("/v1/");
    let has_body = op.get("requestBody").is_some();
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let mut add = |status: &str, what: &str| {
        let responses = op["responses"].as_object_mut().expect("responses");
        if !responses.contains_key(status) {
            responses.insert(
                status.to_owned(),
                json!({
                    "description": what,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }),
            );
        }
    };
    if api {
        if has_body || has_params {
            add(
                "400",
                "`invalid_request`: a parameter or the body breaks its rule",
            );
        }
        add("401", "`unauthenticated`: no valid bearer token");
        if path != "/v1/whoami" {
            add("403", "`forbidden`: a role without the permission");
            add(
                "404",
                "`not_found`: missing, or in a namespace the caller holds no role in",
            );
        }
        if has_body {
            add("413", "`too_large`: a body over its limit");
            add(
                "408",
                "`request_timeout` or `upload_too_slow`: the body did not arrive in time",
            );
        }
    }
    add(
        "429",
        "`rate_limited`, `quota_exceeded` or `too_many_connections`; `Retry-After` says when to try again",
    );
    add(
        "503",
        "`unavailable` or `timeout`: a dependency cannot answer, or the deadline passed",
    );
}

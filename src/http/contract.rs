//! The exact contract: what the handlers' annotations cannot say, added to the
//! OpenAPI document in one place, so that the document alone predicts what the
//! server accepts and how it answers.
//!
//! - every rule the server enforces on a parameter or a body field (patterns,
//!   lengths, bounds, enums, formats), written from the same constants the
//!   parsers use (`names`, `page`, `kinds`);
//! - every status an operation can answer: beside its own, those of the layers
//!   every request passes through (authentication, authorization, rate limits
//!   and quotas, body limits, deadlines, an unavailable dependency).

use serde_json::{Value, json};

use crate::kinds::{Outcome, QuarantineKind, RevocationReason, Role};
use crate::lineage::LineageBounds;
use crate::names::{FilePath, NAME_PATTERN, PRINCIPAL_PATTERN};
use crate::page::Page;

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

/// Free text: the server refuses NUL (no database stores it) and counts
/// characters, as JSON Schema does.
fn text(max: usize, min: usize) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max, "pattern": "^[^\\x00]*$"})
}

/// A short label of lineage: no control characters at all.
fn label() -> Value {
    json!({"type": "string", "maxLength": 1024, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"})
}

fn pattern(p: &str) -> Value {
    json!({"type": "string", "pattern": p})
}

fn name() -> Value {
    pattern(NAME_PATTERN)
}

fn principal() -> Value {
    pattern(PRINCIPAL_PATTERN)
}

/// The contract's version, as the `/v1` prefix of its routes.
pub const API_VERSION: &str = "1";

const HEX64: &str = "^[0-9A-Fa-f]{64}$";
const COMMIT: &str = "^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$";
const SCOPE: &str = "^(\\*|[a-z0-9][a-z0-9._-]{0,62})$";
const MODEL_REF: &str = "^[a-z0-9][a-z0-9._-]{0,62}/[a-z0-9][a-z0-9._-]{0,62}$";
/// `namespace/model@version`, as a quarantine names a version.
const VERSION_REF: &str =
    "^[a-z0-9][a-z0-9._-]{0,62}/[a-z0-9][a-z0-9._-]{0,62}@0*[1-9][0-9]{0,17}$";
/// A file path as stored: `/`-separated segments of `[A-Za-z0-9._-]`, none `.`
/// or `..`.
const FILE_PATH: &str = "^(?!(.*/)?\\.{1,2}(/|$))[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$";
/// A path a new file may take: also portable to Windows (no segment ending in a
/// dot, no device name such as `CON` or `com1.txt`).
const PORTABLE_PATH: &str = "^(?!(.*/)?([Cc][Oo][Nn]|[Pp][Rr][Nn]|[Aa][Uu][Xx]|[Nn][Uu][Ll]|([Cc][Oo][Mm]|[Ll][Pp][Tt])[1-9])(\\.[^/]*)?(/|$))[A-Za-z0-9._-]*[A-Za-z0-9_-](/[A-Za-z0-9._-]*[A-Za-z0-9_-])*$";

fn file_path(portable: bool) -> Value {
    let p = if portable { PORTABLE_PATH } else { FILE_PATH };
    json!({"type": "string", "minLength": 1, "maxLength": FilePath::MAX_LEN, "pattern": p})
}

fn version_number() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 1})
}

fn one_of<T: AsRef<str>>(values: impl IntoIterator<Item = T>) -> Value {
    let v: Vec<String> = values.into_iter().map(|s| s.as_ref().to_owned()).collect();
    json!({"type": "string", "enum": v})
}

/// Any JSON value without NUL in its strings or keys (no database stores it).
fn metadata_value() -> Value {
    let no_nul = json!({"type": "string", "pattern": "^[^\\x00]*$"});
    json!({"anyOf": [
        {"type": ["null", "boolean", "number"]},
        no_nul,
        {"type": "array", "items": {"$ref": "#/components/schemas/MetadataValue"}},
        {"type": "object", "propertyNames": no_nul,
         "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"}},
    ]})
}

/// The rule of a parameter, by where it is and its name (the operation's path
/// and method for the two whose rule depends on it).
fn parameter_rule(path: &str, method: &str, location: &str, name_: &str) -> Option<Value> {
    let members = path.contains("/members");
    Some(match (location, name_) {
        ("path", "ns") if members => pattern(SCOPE),
        ("path", "ns" | "model" | "alias") => name(),
        ("path", "principal") => principal(),
        ("path", "keyid" | "sha256") => pattern(HEX64),
        ("path", "commit") => pattern(COMMIT),
        ("path", "v") => version_number(),
        ("path", "path") => file_path(method == "put"),
        ("path", "id") => json!({"type": "string", "format": "uuid"}),
        ("query", "limit") => {
            json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": Page::MAX_LIMIT})
        }
        ("query", "cursor") => pattern("^[A-Za-z0-9_-]*$"),
        ("query", "namespace") => name(),
        ("query", "principal") => principal(),
        ("query", "outcome") => one_of(Outcome::ALL.iter().map(|o| o.as_str())),
        ("query", "since" | "until") => json!({"type": "string", "format": "date-time"}),
        ("query", "action" | "model" | "request_id") => text(1024, 0),
        ("query", "reason") => text(1024, 0),
        ("header", "X-Checksum-Sha256") => pattern(HEX64),
        ("header", "Upload-Offset") => json!({"type": "integer", "format": "int64", "minimum": 0}),
        _ => return None,
    })
}

/// The rules of request body fields, by schema and property.
fn property_rule(limits: &Advertised, schema: &str, property: &str) -> Option<Value> {
    let roles = || one_of(Role::ALL.iter().map(|r| r.as_str()));
    Some(match (schema, property) {
        ("CreateNamespace", "name") | ("CreateModel", "namespace" | "name") => name(),
        (_, "description") => text(4096, 0),
        ("CreateToken", "principal") => principal(),
        ("CreateToken", "expires_in_days") => {
            json!({"type": ["integer", "null"], "format": "int32", "minimum": 1,
                   "maximum": limits.token_max_days})
        }
        ("MoveAlias", "version") | ("Parent", "version") => version_number(),
        ("MoveAlias", "reason") | ("Revoke", "note") => text(1024, 0),
        ("RegisterKey", "name") => text(200, 1),
        ("RegisterKey", "public_key") => text(4096, 1),
        ("RegisterKey", "namespaces") => {
            json!({"type": "array", "minItems": 1, "items": pattern(SCOPE)})
        }
        ("CreateQuarantine", "namespaces") => {
            json!({"type": ["array", "null"], "minItems": 1, "items": pattern(SCOPE)})
        }
        ("Revoke", "reason") => one_of(RevocationReason::ALL.iter().map(|r| r.as_str())),
        ("SetRoles", "roles") => json!({"type": "array", "items": roles()}),
        ("CreateQuarantine", "reason") => text(1024, 1),
        ("CreateQuarantine", "kind") => one_of(QuarantineKind::ALL.iter().map(|k| k.as_str())),
        ("Dataset", "sha256") | ("CompleteUpload", "sha256") => pattern(HEX64),
        ("StartUpload", "path") => file_path(true),
        ("StartUpload", "size") => json!({"type": "integer", "format": "int64", "minimum": 0,
                                          "maximum": limits.max_file_size}),
        ("Environment", "lockfile_sha256") => json!({"type": ["string", "null"], "pattern": HEX64}),
        ("Parent", "model") => pattern(MODEL_REF),
        ("NamespacePolicy", "min_signatures") => json!({
            "type": "integer", "format": "int32", "minimum": 1,
            "maximum": crate::trust::NamespacePolicy::MAX_MIN_SIGNATURES,
        }),
        _ => return None,
    })
}

/// Finishes the document: rules on parameters and bodies, every status.
pub fn finish(doc: &mut Value, limits: &Advertised) {
    // The document is public: it states the contract's version, never the
    // build's (which would tell a caller which advisories apply).
    doc["info"]["version"] = json!(API_VERSION);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (schema_name, schema) in schemas.iter_mut() {
            constrain_schema(limits, schema_name, schema);
        }
        schemas.insert("Text".into(), label());
        schemas.insert(
            "Uri".into(),
            json!({"type": "string", "maxLength": 1024, "format": "uri"}),
        );
        schemas.insert("CommitId".into(), pattern(COMMIT));
        schemas.insert("MetadataValue".into(), metadata_value());
    }
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in params {
                    let (location, name_) = (
                        p["in"].as_str().unwrap_or_default().to_owned(),
                        p["name"].as_str().unwrap_or_default().to_owned(),
                    );
                    if let Some(rule) = parameter_rule(path, method, &location, &name_) {
                        p["schema"] = rule;
                    }
                }
            }
            add_statuses(path, op);
        }
    }
}

fn constrain_schema(limits: &Advertised, schema_name: &str, schema: &mut Value) {
    if schema_name == "Lineage" {
        schema["properties"]["data"]["maxItems"] = json!(limits.lineage.data);
        schema["properties"]["parents"]["maxItems"] = json!(limits.lineage.parents);
    }
    if schema_name == "CreateQuarantine" {
        // The value's form follows the kind.
        let variant = |kind: &str, value: &str| json!({"properties": {"kind": {"const": kind}, "value": pattern(value)}});
        schema["oneOf"] = json!([
            variant("dataset", HEX64),
            variant("commit", COMMIT),
            variant("version", VERSION_REF),
        ]);
    }
    if schema_name == "CreateVersion" {
        let description = schema["properties"]["metadata"]["description"].clone();
        schema["properties"]["metadata"] = json!({
            "type": "object",
            "description": description,
            "propertyNames": {"type": "string", "pattern": "^[^\\x00]*$"},
            "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"},
        });
    }
    if schema_name == "NamespacePolicy" {
        schema["properties"]["lineage_required"]["propertyNames"] = name();
        schema["properties"]["content_only_aliases"] = json!({
            "type": "array", "items": name(), "maxItems": crate::trust::NamespacePolicy::MAX_STAGES,
            "description": schema["properties"]["content_only_aliases"]["description"].clone(),
        });
        // Repeated fields are accepted (and stored once).
        if let Some(items) = schema
            .pointer_mut("/properties/lineage_required/additionalProperties")
            .and_then(Value::as_object_mut)
        {
            items.remove("uniqueItems");
        }
        schema["properties"]["lineage_required"]["maxProperties"] =
            json!(crate::trust::NamespacePolicy::MAX_STAGES);
    }
    if schema_name == "Environment" {
        let frameworks = &mut schema["properties"]["frameworks"];
        frameworks["propertyNames"] = json!({
            "type": "string", "minLength": 1,
            "maxLength": crate::lineage::MAX_FRAMEWORK_NAME,
            "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$",
        });
        frameworks["additionalProperties"] = label();
        frameworks["maxProperties"] = json!(limits.lineage.frameworks);
    }
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (prop, rule) in props.iter_mut() {
        if let Some(r) = property_rule(limits, schema_name, prop) {
            keep_doc(rule, r);
        }
    }
}

/// Replaces a property's schema, keeping its description and nullability.
fn keep_doc(slot: &mut Value, mut rule: Value) {
    if let Some(d) = slot.get("description").cloned() {
        rule["description"] = d;
    }
    *slot = rule;
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

//! Verification, in the order `docs/design.md` gives it: envelope shape, PAE, a
//! registered key whose signature verifies (the keyid only narrows the search),
//! that key's standing, and only then the statement against what was recorded.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::Digest as _;

use super::dsse;
use super::keys::{HeldChecks, TrustedKey, is_supported_signature};
use super::statement::{PREDICATE_TYPE, Resource, STATEMENT_TYPE, root_digest};
use crate::kinds::SignatureState;
use crate::names::{KeyId, ModelRef, Namespace, VersionNumber};

/// What a statement must say to count for one sealed version. Built once per
/// version and reused for each of its signatures.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    registry: &'a str,
    namespace: &'a Namespace,
    model: String,
    version: i64,
    lineage: Value,
    /// The version's CI provenance, when a trusted publisher created it.
    provenance: Option<Value>,
    root: String,
    resources: BTreeMap<&'a str, (String, u64)>,
}

impl<'a> Expected<'a> {
    /// `resources` in statement order (the root digest depends on it).
    pub fn new(
        registry: &'a str,
        model: &'a ModelRef,
        version: VersionNumber,
        lineage: &Value,
        resources: &'a [Resource],
    ) -> Self {
        Self {
            registry,
            namespace: &model.namespace,
            model: model.to_string(),
            version: version.get(),
            lineage: lineage_as_data(lineage),
            provenance: None,
            root: root_digest(resources).to_hex(),
            resources: resources
                .iter()
                .map(|r| (r.path.as_str(), (r.sha256.to_hex(), r.size)))
                .collect(),
        }
    }

    /// The version's CI provenance, which the statement must carry exactly
    /// (`predicate.signet.provenance`); without one, it must carry none.
    pub fn with_provenance(mut self, provenance: Option<&Value>) -> Self {
        self.provenance = provenance.cloned();
        self
    }

    pub fn namespace(&self) -> &Namespace {
        self.namespace
    }

    /// The root digest of the version's files, hex.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Each file's path with its SHA-256 (hex) and size.
    pub fn files(&self) -> &BTreeMap<&'a str, (String, u64)> {
        &self.resources
    }
}

/// Why a signature does not count. Codes are the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    /// The envelope is malformed, or the key it names does not verify it.
    SignatureInvalid,
    /// No registered key verifies it, or the key is out of scope or expired.
    UntrustedKey,
    /// The key was revoked in a way that cancels this signature.
    KeyRevoked,
    /// Signed bytes that are not exactly this version's statement.
    StatementMismatch,
    /// No signature has the form of any algorithm Signet verifies (RSA, P-521,
    /// …), so no registered key could have made it.
    UnsupportedAlgorithm,
    /// A content-only statement of a serialization Signet does not check
    /// (blake3 hashing, shards).
    UnsupportedSerialization,
    /// A bundle that does not state the one media type Signet accepts.
    UnsupportedBundle,
    /// A bundle whose key hint names another key than the one that verifies it.
    KeyHintMismatch,
}

impl Rejection {
    pub const ALL: [Rejection; 8] = [
        Rejection::SignatureInvalid,
        Rejection::UntrustedKey,
        Rejection::KeyRevoked,
        Rejection::StatementMismatch,
        Rejection::UnsupportedAlgorithm,
        Rejection::UnsupportedSerialization,
        Rejection::UnsupportedBundle,
        Rejection::KeyHintMismatch,
    ];

    /// The signature's status this rejection gives it.
    pub fn state(self) -> SignatureState {
        match self {
            Rejection::SignatureInvalid => SignatureState::SignatureInvalid,
            Rejection::UntrustedKey => SignatureState::UntrustedKey,
            Rejection::KeyRevoked => SignatureState::KeyRevoked,
            Rejection::StatementMismatch => SignatureState::StatementMismatch,
            Rejection::UnsupportedAlgorithm => SignatureState::UnsupportedAlgorithm,
            Rejection::UnsupportedSerialization => SignatureState::UnsupportedSerialization,
            Rejection::UnsupportedBundle => SignatureState::UnsupportedBundle,
            Rejection::KeyHintMismatch => SignatureState::KeyHintMismatch,
        }
    }

    pub fn code(self) -> &'static str {
        self.state().as_str()
    }
}

/// When a signature was received, and when it is judged.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub received_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// A signature that verified against a trusted key, for one version. Only
/// [`verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    keyid: KeyId,
    material: KeyId,
    key_name: String,
    content_only: bool,
}

impl VerifiedSignature {
    pub fn keyid(&self) -> &KeyId {
        &self.keyid
    }

    /// The identity of the key material that made it: two registrations of one
    /// key are one signer.
    pub fn material(&self) -> &KeyId {
        &self.material
    }

    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// Over the files only (an OMS statement without `predicate.signet`, as
    /// `model_signing sign` makes it): it binds the bytes, not the model,
    /// version or lineage, so it could be replayed onto any version with the
    /// same files. It counts only where the namespace policy accepts it.
    pub fn content_only(&self) -> bool {
        self.content_only
    }
}

/// Checked on arrival only (stored documents predate the rule): a bundle must
/// state the media type Signet accepts.
pub fn check_bundle_media_type(doc: &[u8]) -> Result<(), Rejection> {
    let env = dsse::parse(doc).map_err(|_| Rejection::SignatureInvalid)?;
    match env.bundle {
        Some(b) if b.media_type.as_deref() != Some(super::bundle::BUNDLE_MEDIA_TYPE) => {
            Err(Rejection::UnsupportedBundle)
        }
        _ => Ok(()),
    }
}

/// Verifies one stored or uploaded signature document (envelope or bundle).
///
/// `received_at` decides whether a retired key still counts; `now` decides
/// expiry.
pub fn verify(
    doc: &[u8],
    keys: &[TrustedKey],
    expected: &Expected<'_>,
    at: Times,
    held: &dyn HeldChecks,
) -> Result<VerifiedSignature, Rejection> {
    let (env, key) = signer(doc, keys, expected.namespace, at, held)?;
    let content_only = judge_statement(&env.payload, expected)?;
    Ok(VerifiedSignature {
        keyid: key.keyid.clone(),
        material: key.material.clone(),
        key_name: key.name.clone(),
        content_only,
    })
}

/// The trusted key that signed a DSSE document (envelope or bundle) for
/// `namespace`, with the envelope: a registered key whose signature verifies
/// over the PAE (the keyid only narrows the search), in scope, unexpired and
/// not revoked as of `received_at`. What the payload says is the caller's to
/// judge.
pub fn signer<'k>(
    doc: &[u8],
    keys: &'k [TrustedKey],
    namespace: &Namespace,
    at: Times,
    held: &dyn HeldChecks,
) -> Result<(dsse::CheckedEnvelope, &'k TrustedKey), Rejection> {
    let Times { received_at, now } = at;
    let env = dsse::parse(doc).map_err(|_| Rejection::SignatureInvalid)?;
    let pae = env.pae();

    let mut named_a_registered_key = false;
    let mut best: Option<Rejection> = None;
    let mut any_supported = false;
    for s in &env.signatures {
        if !is_supported_signature(&s.sig) {
            continue;
        }
        any_supported = true;
        let sig = &s.sig;
        let hinted = s.keyid.as_deref();
        named_a_registered_key |= keys.iter().any(|k| Some(k.keyid.as_str()) == hinted);
        // The hinted key first, then the rest: the hint is a shortcut, not a claim.
        let order = keys
            .iter()
            .filter(|k| Some(k.keyid.as_str()) == hinted)
            .chain(keys.iter().filter(|k| Some(k.keyid.as_str()) != hinted));
        for key in order {
            if !key.key.verifies_remembered(&pae, sig, held) {
                continue;
            }
            let standing = if key.revoked_for(received_at) {
                Err(Rejection::KeyRevoked)
            } else if !key.in_scope(namespace) || key.expired(now) {
                Err(Rejection::UntrustedKey)
            } else {
                Ok(())
            };
            match standing {
                Ok(()) => {
                    // A bundle names its key: it must be this one.
                    let hint = env.bundle.as_ref().and_then(|b| b.key_hint.as_deref());
                    if hint.is_some_and(|h| h != key.material.as_str() && h != key.keyid.as_str()) {
                        return Err(Rejection::KeyHintMismatch);
                    }
                    return Ok((env, key));
                }
                Err(r) => best = best.max(Some(r)),
            }
        }
    }
    Err(
        best.unwrap_or(if !any_supported && !env.signatures.is_empty() {
            Rejection::UnsupportedAlgorithm
        } else if named_a_registered_key {
            Rejection::SignatureInvalid
        } else {
            Rejection::UntrustedKey
        }),
    )
}

/// Judges the signed statement: exactly this version's (`Ok(false)`), or a
/// content-only statement over exactly its files (`Ok(true)`).
fn judge_statement(payload: &[u8], exp: &Expected<'_>) -> Result<bool, Rejection> {
    let Ok(st) = super::json::parse_unique(payload) else {
        return Err(Rejection::StatementMismatch);
    };
    if st["predicate"].get("signet").is_some() {
        return statement_matches(&st, exp)
            .then_some(false)
            .ok_or(Rejection::StatementMismatch);
    }
    content_matches(&st, exp).map(|()| true)
}

/// A content-only statement (OMS as `model_signing sign` writes it): the files
/// serialization with SHA-256, a subject whose digest is the root of the
/// resources in their order, and resources naming exactly the version's files
/// with their digests (and sizes, when given). A version of one file may be
/// named by its base name, as the signer names a single file.
fn content_matches(st: &Value, exp: &Expected<'_>) -> Result<(), Rejection> {
    let p = &st["predicate"];
    let ser = &p["serialization"];
    if ser["method"] != "files" || ser["hash_type"] != "sha256" {
        return Err(Rejection::UnsupportedSerialization);
    }
    let mismatch = Err(Rejection::StatementMismatch);
    if !(keys_are(st, &["_type", "predicate", "predicateType", "subject"])
        && keys_are(p, &["resources", "serialization"])
        && st["_type"] == STATEMENT_TYPE
        && st["predicateType"] == PREDICATE_TYPE)
    {
        return mismatch;
    }
    let Some(resources) = p["resources"].as_array() else {
        return mismatch;
    };
    let single = (exp.resources.len() == 1)
        .then(|| exp.resources.iter().next())
        .flatten()
        .map(|(path, v)| (path.rsplit('/').next().unwrap_or(path), v));
    let mut seen = std::collections::BTreeSet::new();
    let mut root = sha2::Sha256::new();
    for r in resources {
        let (Some(name), Some(digest)) = (r["name"].as_str(), r["digest"].as_str()) else {
            return mismatch;
        };
        let allowed = r.as_object().is_some_and(|m| {
            m.keys()
                .all(|k| ["algorithm", "digest", "name", "size"].contains(&k.as_str()))
        });
        let ours = exp
            .resources
            .get(name)
            .or_else(|| single.filter(|(base, _)| *base == name).map(|(_, v)| v));
        let fits = ours.is_some_and(|(d, size)| {
            d == digest && (r.get("size").is_none() || r["size"].as_u64() == Some(*size))
        });
        let Ok(raw) = hex::decode(digest) else {
            return mismatch;
        };
        if !(allowed && r["algorithm"] == "sha256" && fits && seen.insert(name)) {
            return mismatch;
        }
        sha2::Digest::update(&mut root, raw);
    }
    let root = hex::encode(sha2::Digest::finalize(root));
    let subject_ok = matches!(st["subject"].as_array(), Some(s) if s.len() == 1
        && s[0]["name"].is_string()
        && s[0]["digest"]["sha256"] == root.as_str());
    if seen.len() != exp.resources.len() || !subject_ok {
        return mismatch;
    }
    Ok(())
}

/// Whether the signed statement is exactly this version's: type, subject and root
/// digest, the resources (names, sizes, digests), registry, model, version and
/// lineage. Lineage is compared as data (see [`lineage_as_data`]).
fn statement_matches(st: &Value, exp: &Expected<'_>) -> bool {
    let subject_ok = matches!(st["subject"].as_array(), Some(s) if s.len() == 1
        && keys_are(&s[0], &["digest", "name"])
        && keys_are(&s[0]["digest"], &["sha256"])
        && s[0]["name"] == exp.model.as_str()
        && s[0]["digest"]["sha256"] == exp.root.as_str());
    let Some(resources) = st["predicate"]["resources"].as_array() else {
        return false;
    };
    let mut seen = std::collections::BTreeSet::new();
    let resources_ok = resources.len() == exp.resources.len()
        && resources.iter().all(|r| {
            let (Some(name), Some(digest), Some(size)) =
                (r["name"].as_str(), r["digest"].as_str(), r["size"].as_u64())
            else {
                return false;
            };
            keys_are(r, &["algorithm", "digest", "name", "size"])
                && r["algorithm"] == "sha256"
                && seen.insert(name)
                && exp
                    .resources
                    .get(name)
                    .is_some_and(|(d, s)| d == digest && *s == size)
        });
    let p = &st["predicate"];
    let b = &p["signet"];
    keys_are(st, &["_type", "predicate", "predicateType", "subject"])
        && keys_are(p, &["resources", "serialization", "signet"])
        && match &exp.provenance {
            None => keys_are(b, &["lineage", "model", "registry", "version"]),
            Some(p) => {
                keys_are(
                    b,
                    &["lineage", "model", "provenance", "registry", "version"],
                ) && b["provenance"] == *p
            }
        }
        && st["_type"] == STATEMENT_TYPE
        && st["predicateType"] == PREDICATE_TYPE
        && p["serialization"] == serialization()
        && subject_ok
        && resources_ok
        && b["registry"] == exp.registry
        && b["model"] == exp.model.as_str()
        && b["version"].as_i64() == Some(exp.version)
        && lineage_as_data(&b["lineage"]) == exp.lineage
}

/// Whether `v` is an object with exactly these keys: nothing in a statement is
/// ignored.
pub(crate) fn keys_are(v: &Value, keys: &[&str]) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == keys.len() && keys.iter().all(|k| m.contains_key(*k)))
}

/// The one serialization Signet signs: files hashed with SHA-256, no symlinks,
/// nothing ignored.
fn serialization() -> Value {
    serde_json::to_value(super::statement::SERIALIZATION).expect("serializes")
}

/// Lineage as data: key order never matters (JSON objects), and an absent field,
/// `null`, `[]` and `{}` are the same, at any depth.
pub fn lineage_as_data(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), lineage_as_data(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(lineage_as_data).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_null_and_empty_lineage_fields_are_the_same() {
        assert_eq!(
            lineage_as_data(
                &json!({"code": {"commit": "ab"}, "data": [], "run": null, "environment": {}})
            ),
            lineage_as_data(&json!({"code": {"commit": "ab", "repo": null}}))
        );
        assert_ne!(
            lineage_as_data(&json!({"code": {"commit": "ab"}})),
            lineage_as_data(&json!({"code": {"commit": "cd"}}))
        );
    }
}

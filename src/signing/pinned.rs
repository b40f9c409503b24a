//! Verification against keys the verifier pins itself (a deployer's
//! `--trust-key`, an offline check), with the same verifier the registry runs:
//! the registry's opinion of a signature is never needed.

use chrono::Utc;
use serde_json::Value;

use super::keys::{CheckEveryTime, PublicKey, TrustedKey};
use super::statement::{Resource, sort_resources};
use super::verify::{Expected, Rejection, Times, VerifiedSignature, verify};
use crate::kinds::BindingScope;
use crate::names::{FilePath, KeyId, ModelRef, Sha256, VersionNumber};

/// What a signed statement claims: read before its signature is checked, so
/// untrusted until [`verify_pinned`] accepts the document against them.
#[derive(Debug, Clone)]
pub struct Claims {
    pub registry: String,
    pub model: ModelRef,
    pub version: VersionNumber,
    pub lineage: Value,
    /// The CI provenance the statement carries, if any.
    pub provenance: Option<Value>,
    /// In statement order. Every name is a safe relative path.
    pub resources: Vec<Resource>,
}

/// The claims of a signature document (a DSSE envelope or a Sigstore bundle)
/// whose statement carries Signet's binding.
pub fn claims(doc: &[u8]) -> Result<Claims, Rejection> {
    let env = super::dsse::parse(doc).map_err(|_| Rejection::SignatureInvalid)?;
    let st: Value =
        serde_json::from_slice(&env.payload).map_err(|_| Rejection::StatementMismatch)?;
    let bad = || Rejection::StatementMismatch;
    let b = &st["predicate"]["signet"];
    let model = b["model"]
        .as_str()
        .and_then(|m| ModelRef::parse(m).ok())
        .ok_or_else(bad)?;
    let version = b["version"]
        .as_i64()
        .and_then(|v| VersionNumber::new(v).ok())
        .ok_or_else(bad)?;
    let mut resources = st["predicate"]["resources"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|r| {
            Some(Resource {
                path: FilePath::parse(r["name"].as_str()?).ok()?,
                size: r["size"].as_u64()?,
                sha256: Sha256::parse(r["digest"].as_str()?).ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    sort_resources(&mut resources);
    Ok(Claims {
        registry: b["registry"].as_str().ok_or_else(bad)?.to_owned(),
        model,
        version,
        lineage: b["lineage"].clone(),
        provenance: b.get("provenance").cloned(),
        resources,
    })
}

/// Verifies `doc` with the pinned key: signed by it, over a statement that is
/// exactly `expected` (content-only statements are accepted only when
/// `content_only` says so).
pub fn verify_pinned(
    doc: &[u8],
    pinned: &PublicKey,
    expected: &Expected<'_>,
) -> Result<VerifiedSignature, Rejection> {
    let key = TrustedKey {
        keyid: pinned.id.clone(),
        material: pinned.id.clone(),
        name: "pinned".into(),
        key: pinned.key,
        namespaces: vec![BindingScope::Global],
        expires_at: None,
        revoked: None,
    };
    let now = Utc::now();
    let at = Times {
        received_at: now,
        now,
    };
    verify(doc, &[key], expected, at, &CheckEveryTime)
}

/// [`verify_pinned`] for a statement that must carry Signet's binding to
/// `model` and `version`, over `files` (the bytes at hand).
pub fn verify_binding(
    doc: &[u8],
    pinned: &PublicKey,
    claims: &Claims,
    model: &ModelRef,
    version: VersionNumber,
    files: &[Resource],
) -> Result<KeyId, Rejection> {
    let mut sorted = files.to_vec();
    sort_resources(&mut sorted);
    let expected = Expected::new(&claims.registry, model, version, &claims.lineage, &sorted)
        .with_provenance(claims.provenance.as_ref());
    let v = verify_pinned(doc, pinned, &expected)?;
    if v.content_only() {
        return Err(Rejection::StatementMismatch);
    }
    Ok(v.material().clone())
}

/// An attestation document checked against pinned keys: signed by one of
/// them, an in-toto statement of `predicate_type` whose subjects are exactly
/// the files `claims` lists (or their root digest). Answers the key's id and
/// the statement.
pub fn attestation_pinned(
    doc: &[u8],
    pinned: &[PublicKey],
    claims: &Claims,
    predicate_type: &str,
) -> Result<(KeyId, Value), String> {
    let keys: Vec<TrustedKey> = pinned
        .iter()
        .map(|p| TrustedKey {
            keyid: p.id.clone(),
            material: p.id.clone(),
            name: "pinned".into(),
            key: p.key,
            namespaces: vec![BindingScope::Global],
            expires_at: None,
            revoked: None,
        })
        .collect();
    let now = Utc::now();
    let at = Times {
        received_at: now,
        now,
    };
    let (env, key) =
        super::verify::signer(doc, &keys, &claims.model.namespace, at, &CheckEveryTime)
            .map_err(|r| format!("no pinned key verifies it ({})", r.code()))?;
    let expected = Expected::new(
        &claims.registry,
        &claims.model,
        claims.version,
        &claims.lineage,
        &claims.resources,
    );
    let attested = super::attestation::judge(&env.payload, &expected)?;
    if attested.predicate_type != predicate_type {
        return Err(format!(
            "its statement is of {}, not {predicate_type}",
            attested.predicate_type
        ));
    }
    Ok((key.keyid.clone(), attested.statement))
}

/// A promotion record (a DSSE envelope of an in-toto statement) checked
/// against the registry's pinned key: a signature of that key over its PAE.
/// Answers the statement; what it must say is the caller's to check.
pub fn record_pinned(doc: &[u8], registry_key: &PublicKey) -> Result<Value, String> {
    let env = super::dsse::parse(doc).map_err(|e| format!("not a DSSE envelope: {}", e.0))?;
    let pae = env.pae();
    if !env
        .signatures
        .iter()
        .any(|s| registry_key.key.verifies(&pae, &s.sig))
    {
        return Err("no signature by the registry's key".into());
    }
    serde_json::from_slice(&env.payload).map_err(|_| "the payload is not JSON".into())
}

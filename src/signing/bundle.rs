//! Sigstore bundles v0.3 out: a stored signature packaged so that OpenSSF Model
//! Signing's verifier (`model_signing verify key`) reads it. The bundle carries
//! the DSSE envelope as it was signed, with the signature of the key it is
//! fetched for first (the verifier checks the first), and names that key by its
//! hint: the SHA-256 of its canonical SPKI PEM.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::dsse::CheckedEnvelope;
use super::keys::VerifierKey;
use crate::names::KeyId;

/// The media type of the bundles Signet writes.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The bundle of `env` for the key `key`, whose hint is `hint`. `None` when no
/// signature of the envelope is that key's.
pub fn bundle_for(env: &CheckedEnvelope, key: &VerifierKey, hint: &KeyId) -> Option<Value> {
    let pae = env.pae();
    let (mine, others): (Vec<_>, Vec<_>) = env
        .signatures
        .iter()
        .partition(|s| key.verifies(&pae, &s.sig));
    let first = mine.first()?;
    let signatures: Vec<Value> = std::iter::once(json!({
        "sig": STANDARD.encode(&first.sig),
        "keyid": hint.as_str(),
    }))
    .chain(others.iter().map(|s| {
        let mut v = json!({"sig": STANDARD.encode(&s.sig)});
        if let Some(k) = &s.keyid {
            v["keyid"] = json!(k);
        }
        v
    }))
    .collect();
    Some(json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint.as_str()}},
        "dsseEnvelope": {
            "payload": STANDARD.encode(&env.payload),
            "payloadType": env.payload_type,
            "signatures": signatures,
        },
    }))
}

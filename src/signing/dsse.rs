//! DSSE envelopes: parsing into a checked type, and the pre-authentication
//! encoding (PAE) that signatures are made over.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in ASCII
/// decimal bytes. Signing the PAE rather than the bare payload binds the payload
/// type into the signature, so a payload cannot be reinterpreted as another type.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope, decoded.
#[derive(Debug, Clone)]
pub struct EnvelopeSignature {
    /// A hint only: it narrows the search for the key, it is never trusted.
    pub keyid: Option<String>,
    pub sig: Vec<u8>,
}

/// An envelope whose shape has been checked and whose fields are decoded.
#[derive(Debug, Clone)]
pub struct CheckedEnvelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
    /// When the document was a Sigstore bundle: what it says of itself.
    pub bundle: Option<BundleInfo>,
}

/// What a Sigstore bundle states beside its envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleInfo {
    pub media_type: Option<String>,
    /// `verificationMaterial.publicKey.hint`: the key it names.
    pub key_hint: Option<String>,
}

impl CheckedEnvelope {
    /// The bytes every signature of this envelope is over.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

#[derive(Deserialize)]
struct RawBundle {
    #[serde(rename = "dsseEnvelope")]
    dsse_envelope: RawEnvelope,
}

/// Standard or URL-safe base64, with or without padding.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s.trim()).ok())
}

/// Why a document is not a usable envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Accepts a DSSE envelope, or a Sigstore bundle (v0.3) carrying one in
/// `dsseEnvelope`.
pub fn parse(doc: &[u8]) -> Result<CheckedEnvelope, Malformed> {
    let value = super::json::parse_unique(doc)
        .map_err(|_| Malformed("the body is not JSON with each key once"))?;
    let (raw, bundle): (RawEnvelope, _) = if value.get("dsseEnvelope").is_some() {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let info = BundleInfo {
            media_type: text(&value["mediaType"]),
            key_hint: text(&value["verificationMaterial"]["publicKey"]["hint"]),
        };
        let raw = serde_json::from_value::<RawBundle>(value)
            .map_err(|_| Malformed("the bundle's dsseEnvelope is not a DSSE envelope"))?
            .dsse_envelope;
        (raw, Some(info))
    } else {
        let raw = serde_json::from_value(value).map_err(|_| Malformed("not a DSSE envelope"))?;
        (raw, None)
    };
    if raw.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Malformed(
            "payloadType must be application/vnd.in-toto+json",
        ));
    }
    let payload = decode_b64(&raw.payload).ok_or(Malformed("payload is not base64"))?;
    if raw.signatures.is_empty() {
        return Err(Malformed("the envelope has no signature"));
    }
    let signatures = raw
        .signatures
        .into_iter()
        .map(|s| {
            Ok(EnvelopeSignature {
                keyid: s.keyid.filter(|k| !k.is_empty()),
                sig: decode_b64(&s.sig).ok_or(Malformed("a signature is not base64"))?,
            })
        })
        .collect::<Result<Vec<_>, Malformed>>()?;
    Ok(CheckedEnvelope {
        payload_type: raw.payload_type,
        payload,
        signatures,
        bundle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE specification's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn envelopes_and_bundles_parse_in_either_base64() {
        let env = serde_json::json!({
            "payload": URL_SAFE_NO_PAD.encode(b"{\"a\":1}>?"),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"keyid": "", "sig": STANDARD.encode([1u8; 64])}]
        });
        let parsed = parse(env.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.payload, b"{\"a\":1}>?");
        assert_eq!(parsed.signatures[0].keyid, None);
        let bundle = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {},
            "dsseEnvelope": env
        });
        assert!(parse(bundle.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        for bad in [
            "not json",
            "{}",
            r#"{"payload":"e30=","payloadType":"text/plain","signatures":[{"sig":"AA=="}]}"#,
            r#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}"#,
            r#"{"payload":"!!","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

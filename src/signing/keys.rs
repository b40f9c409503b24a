//! Trusted public keys: parsing, key ids, and whether a key counts.

use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::Digest;

use crate::kinds::{BindingScope, RevocationReason};
use crate::names::{KeyId, Namespace};

/// Why uploaded key material is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not an Ed25519 public key in SPKI PEM at all.
    #[error("public_key must be an Ed25519 public key in SPKI PEM (BEGIN PUBLIC KEY)")]
    Unreadable,
    /// A point of small order: signatures by it prove nothing.
    #[error("the key is a point of small order, which anyone can sign for")]
    SmallOrder,
    /// A point written in a non-canonical encoding: the same key has another
    /// spelling, so it could be registered twice.
    #[error("the key's point is not in canonical encoding")]
    NonCanonical,
}

/// A public key parsed from uploaded text, with its identity.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub key: VerifyingKey,
    /// The key re-encoded: SPKI PEM, 64-column base64, LF line ends.
    pub pem: String,
    /// Lowercase hex SHA-256 of [`PublicKey::pem`]: the key's identity whatever
    /// text it arrived in, and what OpenSSF Model Signing calls the key hint.
    pub id: KeyId,
}

/// Parses an Ed25519 public key from any valid PEM wrapping of its SPKI DER:
/// whatever the line length, line ends, surrounding text or header lines.
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyError> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let start = text.find(BEGIN).ok_or(KeyError::Unreadable)? + BEGIN.len();
    let len = text[start..].find(END).ok_or(KeyError::Unreadable)?;
    // RFC 1421-style header lines (`Name: value`) carry no key bytes.
    let b64: String = text[start..start + len]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| KeyError::Unreadable)?;
    let key = VerifyingKey::from_public_key_der(&der).map_err(|_| KeyError::Unreadable)?;
    if key.to_edwards().compress().to_bytes() != key.to_bytes() {
        return Err(KeyError::NonCanonical);
    }
    if key.is_weak() {
        return Err(KeyError::SmallOrder);
    }
    let pem = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::Unreadable)?;
    let id = KeyId::parse(&hex::encode(sha2::Sha256::digest(pem.as_bytes())))
        .expect("a SHA-256 is 64 hex digits");
    Ok(PublicKey { key, pem, id })
}

/// A registered key, as the verifier needs it.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The id it was registered under (for keys registered before ids were
    /// derived from the parsed key, the hash of the text as uploaded).
    pub keyid: KeyId,
    /// The key's identity: the same for every registration of this key.
    pub material: KeyId,
    pub name: String,
    pub key: VerifyingKey,
    /// Namespaces it may sign for, or all of them.
    pub namespaces: Vec<BindingScope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: Option<(RevocationReason, DateTime<Utc>)>,
}

impl TrustedKey {
    pub fn in_scope(&self, namespace: &Namespace) -> bool {
        self.namespaces.iter().any(|n| match n {
            BindingScope::Global => true,
            BindingScope::Namespace(ns) => ns == namespace,
        })
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Whether a signature received at `received_at` is cancelled by a revocation.
    pub fn revoked_for(&self, received_at: DateTime<Utc>) -> bool {
        match self.revoked {
            None => false,
            Some((RevocationReason::Compromised, _)) => true,
            Some((RevocationReason::Retired, at)) => received_at >= at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    /// SPKI DER of an Ed25519 key with these 32 point bytes, as PEM.
    fn pem_of(point: [u8; 32]) -> String {
        let mut der = hex::decode("302a300506032b6570032100").unwrap();
        der.extend_from_slice(&point);
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    #[test]
    fn any_wrapping_of_one_key_has_one_identity() {
        let canonical = parse_public_key(PEM).unwrap();
        assert_eq!(canonical.pem, PEM);
        let body = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
        for text in [
            PEM.replace('\n', "\r\n"),
            format!("  {PEM}\n\n"),
            format!("a note before\n{PEM}"),
            format!(
                "-----BEGIN PUBLIC KEY-----\nComment: ci key\n{}\n{}\n-----END PUBLIC KEY-----",
                &body[..20],
                &body[20..]
            ),
            format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----"),
        ] {
            let other = parse_public_key(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(other.id, canonical.id, "{text:?}");
            assert_eq!(other.pem, canonical.pem);
        }
    }

    #[test]
    fn non_keys_are_unreadable() {
        for text in ["", "hello", &PEM.replace("MCow", "NCow"), &PEM[..40]] {
            assert_eq!(parse_public_key(text).unwrap_err(), KeyError::Unreadable);
        }
    }

    #[test]
    fn small_order_points_are_refused() {
        // The identity, and the point of order 2 (y = -1).
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for point in [identity, minus_one] {
            assert_eq!(
                parse_public_key(&pem_of(point)).unwrap_err(),
                KeyError::SmallOrder
            );
        }
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        // y = p + k for small k: the same points as y = k, spelled differently;
        // and the identity with the sign bit of x set ("negative zero").
        let mut found = 0;
        for k in 0u8..19 {
            let mut y = [0xffu8; 32];
            y[0] = 0xed + k;
            y[31] = 0x7f;
            if y[0] < 0xed {
                continue;
            }
            if VerifyingKey::from_bytes(&y).is_ok() {
                found += 1;
                assert_eq!(
                    parse_public_key(&pem_of(y)).unwrap_err(),
                    KeyError::NonCanonical,
                    "y = p + {k}"
                );
            }
        }
        assert!(
            found > 0,
            "no non-canonical point decoded; the test proves nothing"
        );
        let mut negative_zero = [0u8; 32];
        negative_zero[0] = 1;
        negative_zero[31] = 0x80;
        if VerifyingKey::from_bytes(&negative_zero).is_ok() {
            assert!(parse_public_key(&pem_of(negative_zero)).is_err());
        }
    }
}

//! Trusted public keys: parsing, key ids, and whether a key counts.

use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use p256::ecdsa::signature::Verifier;
use sha2::Digest;

use crate::kinds::{Algorithm, BindingScope, RevocationReason};
use crate::names::{KeyId, Namespace};

/// Why uploaded key material is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a public key in SPKI PEM at all.
    #[error(
        "public_key must be an Ed25519, ECDSA P-256 or ECDSA P-384 public key in SPKI PEM (BEGIN PUBLIC KEY)"
    )]
    Unreadable,
    /// A public key of an algorithm Signet does not verify (RSA, P-521, …).
    #[error(
        "the key's algorithm is not supported: Signet verifies Ed25519, ECDSA P-256 and ECDSA P-384"
    )]
    UnsupportedAlgorithm,
    /// A point of small order: signatures by it prove nothing.
    #[error("the key is a point of small order, which anyone can sign for")]
    SmallOrder,
    /// A point written in a non-canonical encoding: the same key has another
    /// spelling, so it could be registered twice.
    #[error("the key's point is not in canonical encoding")]
    NonCanonical,
    /// More than one key in one text: which one was meant cannot be told.
    #[error("the PEM holds more than one public key: give exactly one")]
    Ambiguous,
}

/// A key that can verify signatures: Ed25519 (strictly), or ECDSA over P-256
/// with SHA-256 or P-384 with SHA-384, DER-encoded as OpenSSF Model Signing
/// writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierKey {
    Ed25519(VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl VerifierKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Ed25519(_) => Algorithm::Ed25519,
            Self::P256(_) => Algorithm::EcdsaP256,
            Self::P384(_) => Algorithm::EcdsaP384,
        }
    }

    /// Whether `sig` is this key's signature over `msg`.
    pub fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verifies_now(msg, sig)
    }

    /// [`Self::verifies`], asking `held` first: a check that held is kept
    /// there, so the same bytes under the same key are not checked again on
    /// every read and pull of the version they sign.
    pub fn verifies_remembered(&self, msg: &[u8], sig: &[u8], held: &dyn HeldChecks) -> bool {
        let check = self.check_digest(msg, sig);
        if held.held(&check) {
            return true;
        }
        let holds = self.verifies_now(msg, sig);
        if holds {
            held.hold(check);
        }
        holds
    }

    /// What names one check: the algorithm, the key's point, the message's
    /// length and bytes, and the signature, framed so that no two checks give
    /// the same input.
    fn check_digest(&self, msg: &[u8], sig: &[u8]) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        match self {
            Self::Ed25519(k) => {
                h.update([1]);
                h.update(k.as_bytes());
            }
            Self::P256(k) => {
                h.update([2]);
                h.update(k.to_sec1_point(true).as_bytes());
            }
            Self::P384(k) => {
                h.update([3]);
                h.update(k.to_sec1_point(true).as_bytes());
            }
        }
        h.update((msg.len() as u64).to_be_bytes());
        h.update(msg);
        h.update(sig);
        h.finalize().into()
    }

    fn verifies_now(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(msg, &s).is_ok()),
            Self::P256(k) => {
                p256::ecdsa::DerSignature::from_bytes(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
            Self::P384(k) => {
                p384::ecdsa::DerSignature::from_bytes(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
        }
    }

    fn to_pem(self) -> Option<String> {
        match self {
            Self::Ed25519(k) => k.to_public_key_pem(LineEnding::LF).ok(),
            Self::P256(k) => k.to_public_key_pem(LineEnding::LF).ok(),
            Self::P384(k) => k.to_public_key_pem(LineEnding::LF).ok(),
        }
    }
}

/// What remembers the checks of signatures that held, each named by what it
/// checked (the algorithm, the key, the message and the signature, hashed): a
/// check is a pure function of its bytes, so one that held holds again.
/// Whether a signature counts (the key's registration, revocation, namespaces,
/// the policy) is judged afresh each time; only the arithmetic is remembered.
/// The server's trust cache keeps them; a pull checks every time.
pub trait HeldChecks: Sync {
    fn held(&self, check: &[u8; 32]) -> bool;
    fn hold(&self, check: [u8; 32]);
}

/// Remembers nothing: every check is made.
pub struct CheckEveryTime;

impl HeldChecks for CheckEveryTime {
    fn held(&self, _: &[u8; 32]) -> bool {
        false
    }

    fn hold(&self, _: [u8; 32]) {}
}

/// Whether `sig` has the form of a signature of some algorithm Signet verifies
/// (64 bytes for Ed25519, DER ECDSA for P-256 or P-384), whoever made it.
pub fn is_supported_signature(sig: &[u8]) -> bool {
    sig.len() == 64
        || p256::ecdsa::DerSignature::from_bytes(sig).is_ok()
        || p384::ecdsa::DerSignature::from_bytes(sig).is_ok()
}

/// Object identifiers of the key algorithms and curves Signet verifies.
const ED25519: &str = "1.3.101.112";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

/// A public key parsed from uploaded text, with its identity.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub key: VerifierKey,
    /// The key re-encoded: SPKI PEM, 64-column base64, LF line ends.
    pub pem: String,
    /// Lowercase hex SHA-256 of [`PublicKey::pem`]: the key's identity whatever
    /// text it arrived in, and what OpenSSF Model Signing calls the key hint.
    pub id: KeyId,
}

/// Parses a public key from any valid PEM wrapping of its SPKI DER: whatever the
/// line length, line ends, surrounding text or header lines. An elliptic-curve
/// point may come compressed; the canonical PEM (and so the key id) is always
/// of the uncompressed point, as OpenSSF Model Signing computes its key hint.
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyError> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let start = text.find(BEGIN).ok_or(KeyError::Unreadable)? + BEGIN.len();
    let len = text[start..].find(END).ok_or(KeyError::Unreadable)?;
    // Any other PEM block beside it (a second key, a certificate) makes the
    // text ambiguous: the reviewer approved one key, not the first found.
    if text[start + len + END.len()..].contains("-----BEGIN ")
        || text[..start - BEGIN.len()].contains("-----BEGIN ")
    {
        return Err(KeyError::Ambiguous);
    }
    // RFC 1421-style header lines (`Name: value`) carry no key bytes.
    let b64: String = text[start..start + len]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| KeyError::Unreadable)?;
    // The algorithm is the one the key names; a key that names one and does
    // not decode as it is unreadable, not of another algorithm.
    let spki =
        SubjectPublicKeyInfoRef::try_from(der.as_slice()).map_err(|_| KeyError::Unreadable)?;
    let key = match spki.algorithm.oid.to_string().as_str() {
        ED25519 => {
            let key = VerifyingKey::from_public_key_der(&der).map_err(|_| KeyError::Unreadable)?;
            if key.to_edwards().compress().to_bytes() != key.to_bytes() {
                return Err(KeyError::NonCanonical);
            }
            if key.is_weak() {
                return Err(KeyError::SmallOrder);
            }
            VerifierKey::Ed25519(key)
        }
        EC_PUBLIC_KEY => match spki.algorithm.parameters_oid().map(|o| o.to_string()) {
            Ok(curve) if curve == P256 => VerifierKey::P256(
                p256::ecdsa::VerifyingKey::from_public_key_der(&der)
                    .map_err(|_| KeyError::Unreadable)?,
            ),
            Ok(curve) if curve == P384 => VerifierKey::P384(
                p384::ecdsa::VerifyingKey::from_public_key_der(&der)
                    .map_err(|_| KeyError::Unreadable)?,
            ),
            Ok(_) => return Err(KeyError::UnsupportedAlgorithm),
            Err(_) => return Err(KeyError::Unreadable),
        },
        _ => return Err(KeyError::UnsupportedAlgorithm),
    };
    let pem = key.to_pem().ok_or(KeyError::Unreadable)?;
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
    pub key: VerifierKey,
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

    /// Remembers every check it is told held.
    #[derive(Default)]
    struct Everything(std::sync::Mutex<std::collections::HashSet<[u8; 32]>>);

    impl HeldChecks for Everything {
        fn held(&self, check: &[u8; 32]) -> bool {
            self.0.lock().unwrap().contains(check)
        }

        fn hold(&self, check: [u8; 32]) {
            self.0.lock().unwrap().insert(check);
        }
    }

    #[test]
    fn a_check_that_held_answers_for_exactly_its_bytes_and_key() {
        use ed25519_dalek::Signer;
        let signer = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        let key = VerifierKey::Ed25519(signer.verifying_key());
        let msg = b"DSSEv1 28 application/vnd.in-toto+json 2 {}";
        let sig = signer.sign(msg).to_bytes();
        let held = Everything::default();
        // Twice: checked, then remembered.
        assert!(key.verifies_remembered(msg, &sig, &held));
        assert_eq!(held.0.lock().unwrap().len(), 1);
        assert!(key.verifies_remembered(msg, &sig, &held));
        let mut forged = sig;
        forged[10] ^= 1;
        assert!(!key.verifies_remembered(msg, &forged, &held));
        let other_msg = b"DSSEv1 28 application/vnd.in-toto+json 2 []";
        assert!(!key.verifies_remembered(other_msg, &sig, &held));
        let other_key = VerifierKey::Ed25519(other.verifying_key());
        assert!(!other_key.verifies_remembered(msg, &sig, &held));
        // Nothing that failed was remembered.
        assert_eq!(held.0.lock().unwrap().len(), 1);
        assert!(key.verifies(msg, &sig) && !key.verifies(msg, &forged));
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
    fn an_ecdsa_key_has_one_identity_compressed_or_not() {
        let secret = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let vk = *secret.verifying_key();
        let pem = vk.to_public_key_pem(LineEnding::LF).unwrap();
        let plain = parse_public_key(&pem).unwrap();
        assert_eq!(plain.key.algorithm(), Algorithm::EcdsaP256);
        assert_eq!(plain.pem, pem);
        // The same point, compressed, in an SPKI of its own.
        let mut der = hex::decode("3039301306072a8648ce3d020106082a8648ce3d030107032200").unwrap();
        der.extend_from_slice(vk.to_sec1_point(true).as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let compressed = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let other = parse_public_key(&compressed).unwrap();
        assert_eq!(other.id, plain.id);
        assert_eq!(other.pem, plain.pem);
    }

    #[test]
    fn keys_of_other_algorithms_are_unsupported_not_unreadable() {
        // An X25519 key (an SPKI of another algorithm) and a P-521 key.
        let x25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            parse_public_key(x25519).unwrap_err(),
            KeyError::UnsupportedAlgorithm
        );
        let p521 = "-----BEGIN PUBLIC KEY-----\nMIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQBgc3lqAhVk9a9GBAcE1aCZkYmP5W5\n8u3hJ8ZIgfsd2i/UPTUHCAIrZyTbNEbcvaSVGRRhDnmB1oAqD0R1rZx2qOYBmk1e\n2uIY3eY4RFh6BdO7zcWFuNlLsmuE0q0pcA5gk9v2mGFtq2g+D9uT2A5g7rI/7r4s\ntC1x1hnNDeGdgyNzyIM=\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            parse_public_key(p521).unwrap_err(),
            KeyError::UnsupportedAlgorithm
        );
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

//! The signing side, for clients: private keys (generated, or read from PKCS#8
//! PEM) and DSSE envelopes over the pre-authentication encoding the verifier
//! checks ([`super::dsse::pae`]), so both sides share one definition.

use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use zeroize::Zeroizing;

use super::dsse::IN_TOTO_PAYLOAD_TYPE as PAYLOAD_TYPE;
use super::keys::parse_public_key;
use crate::kinds::Algorithm;

/// A private signing key.
pub enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// Why a private key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PrivateKeyError {
    #[error("not a PKCS#8 PEM private key of Ed25519 or ECDSA P-256")]
    Unreadable,
    #[error("keys of {0} cannot be generated here (ed25519 or ecdsa-p256)")]
    Unsupported(&'static str),
    #[error("the system's random source failed")]
    Random,
}

impl PrivateKey {
    /// A new key from the system's random source.
    pub fn generate(algorithm: Algorithm) -> Result<Self, PrivateKeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        match algorithm {
            Algorithm::Ed25519 => {
                getrandom::fill(&mut *seed).map_err(|_| PrivateKeyError::Random)?;
                Ok(Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            Algorithm::EcdsaP256 => loop {
                // A scalar outside the group order (vanishingly rare) is drawn again.
                getrandom::fill(&mut *seed).map_err(|_| PrivateKeyError::Random)?;
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&*seed) {
                    return Ok(Self::P256(k));
                }
            },
            other => Err(PrivateKeyError::Unsupported(other.as_str())),
        }
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(text: &str) -> Result<Self, PrivateKeyError> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(Self::Ed25519(k));
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(text)
            .map(Self::P256)
            .map_err(|_| PrivateKeyError::Unreadable)
    }

    /// The key as PKCS#8 PEM (a secret: write it where only its owner reads).
    pub fn to_pem(&self) -> Zeroizing<String> {
        match self {
            Self::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
            Self::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .expect("a valid key encodes")
    }

    /// Its public key as SPKI PEM, as `POST /v1/keys` takes it.
    pub fn public_pem(&self) -> String {
        match self {
            Self::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            Self::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
        }
        .expect("a valid key encodes")
    }

    /// The key id the registry gives its public key (the SHA-256 of its
    /// canonical PEM), named as the hint in envelopes.
    pub fn keyid(&self) -> String {
        parse_public_key(&self.public_pem())
            .expect("a generated public key parses")
            .id
            .to_string()
    }

    /// A signature over `msg`: Ed25519's 64 bytes, or ECDSA's DER.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            Self::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Self::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
        }
    }

    /// A DSSE envelope over `payload` (an in-toto statement), signed over its
    /// pre-authentication encoding.
    pub fn envelope(&self, payload: &[u8]) -> serde_json::Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        let sig = self.sign(&super::dsse::pae(PAYLOAD_TYPE, payload));
        serde_json::json!({
            "payloadType": PAYLOAD_TYPE,
            "payload": b64.encode(payload),
            "signatures": [{"keyid": self.keyid(), "sig": b64.encode(sig)}],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::keys::parse_public_key;

    #[test]
    fn generated_keys_survive_pem_and_sign_what_the_verifier_accepts() {
        for alg in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
            let key = PrivateKey::generate(alg).unwrap();
            let again = PrivateKey::from_pem(&key.to_pem()).unwrap();
            assert_eq!(again.public_pem(), key.public_pem());
            let public = parse_public_key(&key.public_pem()).unwrap();
            assert_eq!(public.id.to_string(), key.keyid());
            let msg = b"DSSEv1 a statement";
            assert!(public.key.verifies(msg, &again.sign(msg)));
            assert!(!public.key.verifies(b"another", &again.sign(msg)));
        }
        assert!(
            PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(PrivateKey::generate(Algorithm::EcdsaP384).is_err());
    }
}

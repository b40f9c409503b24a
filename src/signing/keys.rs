//! Trusted public keys: parsing, key ids, and whether a key counts.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use sha2::Digest;

use crate::kinds::{BindingScope, RevocationReason};
use crate::names::{KeyId, Namespace};

/// The canonical text of an SPKI PEM: LF line ends, no surrounding blank space,
/// one final newline. Key ids are computed over exactly this text.
pub fn canonical_pem(pem: &str) -> String {
    let text = pem.replace("\r\n", "\n");
    format!("{}\n", text.trim())
}

/// `keyid` = lowercase hex SHA-256 of the canonical SPKI PEM text (what OpenSSF
/// model signing calls the key hint).
pub fn keyid(canonical: &str) -> KeyId {
    KeyId::parse(&hex::encode(sha2::Sha256::digest(canonical.as_bytes())))
        .expect("a SHA-256 is 64 hex digits")
}

/// Parses an Ed25519 public key from SPKI PEM.
pub fn parse_public_key(pem: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_pem(pem).ok()
}

/// A registered key, as the verifier needs it.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub keyid: KeyId,
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

    #[test]
    fn key_ids_ignore_line_end_style_and_surrounding_space() {
        let lf = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
        let crlf = "\r\n-----BEGIN PUBLIC KEY-----\r\nMCowBQYDK2VwAyEA\r\n-----END PUBLIC KEY-----";
        assert_eq!(canonical_pem(crlf), lf);
        assert_eq!(keyid(&canonical_pem(lf)), keyid(&canonical_pem(crlf)));
        assert_eq!(keyid(lf).as_str().len(), 64);
    }
}

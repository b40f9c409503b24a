//! Webhook secrets at rest: sealed with AES-256-GCM under the operator's
//! webhook key (`SIGNET_WEBHOOK_KEY_FILE`), bound to their subscription's id
//! (a sealed secret copied to another row does not open), never kept in the
//! clear. The key file holds 32 random bytes in base64
//! (`openssl rand -base64 32`).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use super::signature::Secret;
use crate::error::{Error, Result};

/// The key webhook secrets are sealed with.
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl SealingKey {
    /// The key from its file's text: 32 bytes in base64.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "not base64 (`openssl rand -base64 32` writes a key)".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!(
                "{} bytes; a webhook key is 32 (`openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| "unusable key".to_owned())?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A new key's file text, from the system's random source.
    pub fn generate() -> Result<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::internal(anyhow::anyhow!("random source: {e}")))?;
        Ok(format!("{}\n", STANDARD.encode(bytes)))
    }

    /// `secret` sealed for the subscription `id`: a random nonce, then the
    /// ciphertext and its tag.
    pub fn seal(&self, id: Uuid, secret: &Secret) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::internal(anyhow::anyhow!("random source: {e}")))?;
        let mut sealed = secret.bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(id.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| Error::internal(anyhow::anyhow!("sealing a webhook secret")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The secret sealed for `id`, or an error when it was sealed under
    /// another key or for another subscription.
    pub fn open(&self, id: Uuid, sealed: &[u8]) -> Result<Secret> {
        let refused = || {
            Error::internal(anyhow::anyhow!(
                "webhook {id}: its secret does not open under this SIGNET_WEBHOOK_KEY_FILE"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(id.as_bytes()), &mut buf)
            .map_err(|_| refused())?;
        Ok(Secret::from_bytes(plain.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_under_its_key_and_for_its_subscription() {
        let key = SealingKey::parse(&SealingKey::generate().unwrap()).unwrap();
        let other = SealingKey::parse(&SealingKey::generate().unwrap()).unwrap();
        let secret = Secret::generate().unwrap();
        let id = Uuid::now_v7();
        let sealed = key.seal(id, &secret).unwrap();
        assert!(
            !sealed
                .windows(secret.bytes().len())
                .any(|w| w == secret.bytes()),
            "never in the clear"
        );
        assert_eq!(key.open(id, &sealed).unwrap().bytes(), secret.bytes());
        assert!(other.open(id, &sealed).is_err());
        assert!(key.open(Uuid::now_v7(), &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(id, &tampered).is_err());
        assert!(key.open(id, &sealed[..4]).is_err());
    }

    #[test]
    fn a_key_file_is_32_bytes_of_base64() {
        assert!(
            SealingKey::parse("c2hvcnQ=")
                .unwrap_err()
                .contains("5 bytes")
        );
        assert!(SealingKey::parse("!!").unwrap_err().contains("base64"));
        assert!(SealingKey::parse(&SealingKey::generate().unwrap()).is_ok());
    }
}

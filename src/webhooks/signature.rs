//! Webhook signatures as the Standard Webhooks specification gives them, so
//! receivers check them with its libraries: a delivery carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the
//! subscription's secret); the secret is shown once as `whsec_` and its
//! base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

use crate::error::{Error, Result};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The prefix of a secret as shown.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a secret the registry makes (the specification asks 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A subscription's signing secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A new secret from the system's random source.
    pub fn generate() -> Result<Self> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes[..])
            .map_err(|e| Error::internal(anyhow::anyhow!("random source: {e}")))?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// `whsec_…`, as the specification writes it.
    pub fn parse(s: &str) -> Result<Self> {
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| Error::invalid("a webhook secret is whsec_ and base64"))?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(Error::invalid(
                "a webhook secret is 24 to 64 bytes (Standard Webhooks)",
            ));
        }
        Ok(Self(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// `whsec_…`: shown once, when made.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` value of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (its reference libraries' tests).
    #[test]
    fn signs_as_the_specification_does() {
        let s = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            s.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_round_trips_and_changes_every_signature() {
        let s = Secret::generate().unwrap();
        let again = Secret::parse(&s.expose()).unwrap();
        assert_eq!(s.bytes(), again.bytes());
        let other = Secret::generate().unwrap();
        assert_ne!(s.sign("m", 1, b"x"), other.sign("m", 1, b"x"));
        assert_ne!(s.sign("m", 1, b"x"), s.sign("m", 2, b"x"));
        assert_ne!(s.sign("m", 1, b"x"), s.sign("n", 1, b"x"));
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        assert!(Secret::parse("whsec_!!").is_err());
    }
}

//! API token secrets: 256 random bits behind a recognisable `sgn_` prefix.
//! Only the SHA-256 of a secret is stored; a secret is shown once, at creation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest;

const PREFIX: &str = "sgn_";
/// The prefix of a registry token (the OCI face's, from `/v2/token`).
const REGISTRY_PREFIX: &str = "sgr_";
/// The prefix of a publisher token (trusted publishing's, from `/v1/oidc/token`).
const PUBLISHER_PREFIX: &str = "sgp_";

/// A token secret. Its `Debug` never prints the value.
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        Self::generate_with(PREFIX)
    }

    /// A new registry token's secret.
    pub fn generate_registry() -> Self {
        Self::generate_with(REGISTRY_PREFIX)
    }

    /// A new publisher token's secret.
    pub fn generate_publisher() -> Self {
        Self::generate_with(PUBLISHER_PREFIX)
    }

    fn generate_with(prefix: &str) -> Self {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("the OS random source is available");
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Accepts a presented secret of plausible shape; anything else cannot match a
    /// stored hash anyway, so it is refused before touching the database.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_with(s, PREFIX)
    }

    /// [`Secret::parse`] for a registry token.
    pub fn parse_registry(s: &str) -> Option<Self> {
        Self::parse_with(s, REGISTRY_PREFIX)
    }

    /// Whether a presented secret is shaped as a registry token.
    pub fn is_registry(s: &str) -> bool {
        s.starts_with(REGISTRY_PREFIX)
    }

    /// [`Secret::parse`] for a publisher token.
    pub fn parse_publisher(s: &str) -> Option<Self> {
        Self::parse_with(s, PUBLISHER_PREFIX)
    }

    /// Whether a presented secret is shaped as a publisher token.
    pub fn is_publisher(s: &str) -> bool {
        s.starts_with(PUBLISHER_PREFIX)
    }

    fn parse_with(s: &str, prefix: &str) -> Option<Self> {
        let ok = s.starts_with(prefix)
            && (36..=256).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }

    /// What the database keeps.
    pub fn hash(&self) -> [u8; 32] {
        sha2::Sha256::digest(self.0.as_bytes()).into()
    }

    /// The secret itself, for the one answer that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_differ() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert!(Secret::parse(a.expose()).is_some());
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn registry_tokens_and_api_tokens_never_pass_for_each_other() {
        let api = Secret::generate();
        let registry = Secret::generate_registry();
        assert!(Secret::parse_registry(registry.expose()).is_some());
        assert!(Secret::parse_registry(api.expose()).is_none());
        assert!(Secret::parse(registry.expose()).is_none());
        let publisher = Secret::generate_publisher();
        assert!(Secret::parse_publisher(publisher.expose()).is_some());
        assert!(Secret::parse(publisher.expose()).is_none());
        assert!(Secret::parse_registry(publisher.expose()).is_none());
        assert!(Secret::parse_publisher(api.expose()).is_none());
    }

    #[test]
    fn the_stored_hash_is_not_a_usable_secret() {
        let a = Secret::generate();
        assert!(Secret::parse(&hex::encode(a.hash())).is_none());
    }
}

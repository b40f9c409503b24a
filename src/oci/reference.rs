//! What an OCI request names: a manifest by tag or digest, a blob by digest.

use crate::error::{Error, Result};
use crate::names::{Sha256, VersionNumber};

/// A content digest as OCI writes it. Only `sha256` is held here; a
/// well-formed digest of another algorithm names nothing Signet has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    Sha256(Sha256),
    /// Well-formed, of an algorithm Signet does not store (`sha512:…`).
    Other,
}

impl Digest {
    /// `algorithm:encoded` as the image spec's grammar allows; `sha256`
    /// takes exactly 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "{:?} is not a digest (sha256:<64 lowercase hex>)",
                shown(s)
            ))
        };
        let (alg, enc) = s.split_once(':').ok_or_else(bad)?;
        let alg_ok = !alg.is_empty()
            && alg.len() <= 32
            && alg.bytes().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'+' | b'.' | b'_' | b'-')
            });
        let enc_ok = !enc.is_empty()
            && enc.len() <= 256
            && enc
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'));
        if !alg_ok || !enc_ok {
            return Err(bad());
        }
        match alg {
            "sha256"
                if enc.len() == 64
                    && enc.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(Self::Sha256(Sha256::parse(enc)?))
            }
            "sha256" => Err(bad()),
            _ => Ok(Self::Other),
        }
    }

    /// The SHA-256 it names; none for a digest of another algorithm, which
    /// names nothing Signet holds.
    pub fn sha256(&self) -> Option<Sha256> {
        match self {
            Self::Sha256(s) => Some(*s),
            Self::Other => None,
        }
    }

    pub fn is_sha256(&self) -> bool {
        matches!(self, Self::Sha256(_))
    }

    /// As OCI writes it, for a SHA-256.
    pub fn of(sha: Sha256) -> String {
        format!("sha256:{}", sha.to_hex())
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if !ok {
            return Err(Error::invalid(format!(
                "{:?} is not a tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})",
                shown(s)
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The tag of a version: `v<N>`.
    pub fn of_version(v: VersionNumber) -> String {
        format!("v{v}")
    }

    /// Whether a name is spelled as a version tag (`v` and digits): such tags
    /// name versions only, never aliases.
    pub fn looks_like_version(s: &str) -> bool {
        s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|c| c.is_ascii_digit())
    }

    /// The version a version tag names (`v3`; `v03` names none).
    pub fn version(&self) -> Option<VersionNumber> {
        if !Self::looks_like_version(&self.0) {
            return None;
        }
        VersionNumber::parse(&self.0[1..])
            .ok()
            .filter(|v| Self::of_version(*v) == self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A manifest's reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Self> {
        if s.contains(':') {
            Digest::parse(s).map(Self::Digest)
        } else {
            Tag::parse(s).map(Self::Tag)
        }
    }
}

/// At most 64 characters of a value, to name it in an error.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_follow_the_grammar_and_only_sha256_names_content() {
        let hex = "a".repeat(64);
        assert!(Digest::parse(&format!("sha256:{hex}")).unwrap().is_sha256());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(
            Digest::parse(&format!("sha512:{}", "b".repeat(128))).is_ok_and(|d| !d.is_sha256())
        );
        for bad in ["", "sha256", ":abc", "SHA256:aa", "sha256:a/b", "sha256:"] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_tags_name_versions_and_nothing_else() {
        assert_eq!(
            Tag::parse("v3").unwrap().version(),
            VersionNumber::parse("3").ok()
        );
        assert_eq!(Tag::parse("v03").unwrap().version(), None);
        assert_eq!(Tag::parse("v0").unwrap().version(), None);
        assert_eq!(Tag::parse("production").unwrap().version(), None);
        assert!(Tag::looks_like_version("v2"));
        assert!(!Tag::looks_like_version("v2a"));
        assert!(Tag::parse(".hidden").is_err());
        assert!(Tag::parse(&"a".repeat(129)).is_err());
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
    }
}

//! Typed values parsed at the edge. Nothing unparsed reaches SQL, storage keys or
//! the signing code: every constructor validates, and the fields are private.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..].iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Accepts `^[a-z0-9][a-z0-9._-]{0,62}$`.
            pub fn parse(s: &str) -> Result<Self, Error> {
                if is_name(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(Error::invalid(concat!(
                        $what,
                        " must match ^[a-z0-9][a-z0-9._-]{0,62}$"
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A namespace: the team boundary roles are granted in.
    Namespace,
    "namespace"
);
name_type!(
    /// A model's name inside its namespace.
    ModelName,
    "model name"
);

/// `namespace/name`, the full name of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub namespace: Namespace,
    pub name: ModelName,
}

impl ModelRef {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (ns, name) = s
            .split_once('/')
            .ok_or_else(|| Error::invalid("model must be written namespace/name"))?;
        Ok(Self {
            namespace: Namespace::parse(ns)?,
            name: ModelName::parse(name)?,
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A relative POSIX path of a file inside a version.
///
/// Segments are `[A-Za-z0-9._-]+`, never `.` or `..`; no leading `/`, no `\`, no NUL,
/// at most 1024 bytes. The rule is strict on purpose: these paths are written to
/// disk by every client that pulls a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilePath(String);

impl FilePath {
    pub const MAX_LEN: usize = 1024;

    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(Error::invalid("file path must be 1 to 1024 bytes"));
        }
        for seg in s.split('/') {
            let ok = !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
            if !ok {
                return Err(Error::invalid(
                    "file path segments must match [A-Za-z0-9._-]+ and not be . or ..",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Orders paths by their components, so `a/b` sorts before `a.txt`
    /// (byte order would put `.` (0x2e) before `/` (0x2f)). This is the
    /// resource order of the signed statement.
    pub fn cmp_components(&self, other: &Self) -> std::cmp::Ordering {
        self.0.split('/').cmp(other.0.split('/'))
    }
}

impl fmt::Display for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for FilePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A SHA-256 digest, held as its lowercase hex text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// Accepts exactly 64 hex digits; upper case is folded to lower case.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(Error::invalid("a sha256 digest is 64 hex digits"));
        }
        Ok(Self(out))
    }

    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A version number: assigned by the server, starting at 1, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct VersionNumber(i64);

impl VersionNumber {
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.parse::<i64>() {
            Ok(n) if n >= 1 && s.bytes().all(|c| c.is_ascii_digit()) => Ok(Self(n)),
            _ => Err(Error::invalid("version must be a positive integer")),
        }
    }

    pub fn new(n: i64) -> Result<Self, Error> {
        if n >= 1 {
            Ok(Self(n))
        } else {
            Err(Error::invalid("version must be a positive integer"))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for VersionNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A principal: the name a token acts as (`ci-fraud`, `alice@example.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalName(String);

impl PrincipalName {
    /// 1 to 128 bytes of `[A-Za-z0-9._@+-]`, starting with a letter or digit.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'@' | b'+' | b'-')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::invalid(
                "principal must be 1 to 128 characters of [A-Za-z0-9._@+-]",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PrincipalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PrincipalName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PrincipalName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["fraud", "a", "a.b_c-d", "0model"] {
            assert!(Namespace::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Fraud", "-a", ".a", "a/b", &"a".repeat(64), "a b"] {
            assert!(Namespace::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_paths_reject_traversal_and_oddities() {
        for ok in ["model.safetensors", "weights/model.bin", "a/b/c.d", "..a"] {
            assert!(FilePath::parse(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(1025);
        for bad in [
            "",
            "/abs",
            "a/../b",
            "../a",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a b",
            "é",
            long.as_str(),
        ] {
            assert!(FilePath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn component_order_puts_a_slash_b_before_a_dot_txt() {
        let a = FilePath::parse("a/b").unwrap();
        let b = FilePath::parse("a.txt").unwrap();
        assert_eq!(a.cmp_components(&b), std::cmp::Ordering::Less);
        assert!(a.as_str() > b.as_str());
    }

    #[test]
    fn digests_are_64_hex() {
        assert!(Sha256::parse(&"ab".repeat(32)).is_ok());
        assert_eq!(
            Sha256::parse(&"AB".repeat(32)).unwrap().to_hex(),
            "ab".repeat(32)
        );
        assert!(Sha256::parse(&"ab".repeat(31)).is_err());
        assert!(Sha256::parse(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn version_numbers_are_positive_decimal() {
        assert!(VersionNumber::parse("1").is_ok());
        for bad in ["0", "-1", "+1", "1.0", "x", ""] {
            assert!(VersionNumber::parse(bad).is_err(), "{bad}");
        }
    }
}

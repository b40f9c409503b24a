//! Typed values parsed at the edge. Nothing unparsed reaches SQL, storage keys or
//! the signing code: every constructor validates, and the fields are private.
//!
//! Dependency rule: a leaf. It depends on no other Signet module, so every layer
//! may use it; its one error type converts into the domain error in `error.rs`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

/// A value that does not follow its rule; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

type Error = InvalidValue;

impl InvalidValue {
    fn invalid(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// A name's rule as a regular expression without anchors, so the rules that
/// contain names (`namespace/model`, `namespace/model@version`, a binding
/// scope) are written from it.
#[macro_export]
#[doc(hidden)]
macro_rules! name_rule {
    () => {
        "[a-z0-9][a-z0-9._-]{0,62}"
    };
}

/// What a namespace, model or alias name matches (as `is_name` checks it).
pub const NAME_PATTERN: &str = concat!("^", name_rule!(), "$");
/// What `namespace/model` matches.
pub const MODEL_REF_PATTERN: &str = concat!("^", name_rule!(), "/", name_rule!(), "$");
/// What `namespace/model@version` matches (as a quarantine names a version).
pub const VERSION_REF_PATTERN: &str =
    concat!("^", name_rule!(), "/", name_rule!(), "@0*[1-9][0-9]{0,17}$");
/// What a principal name matches (as `PrincipalName::parse` checks it).
pub const PRINCIPAL_PATTERN: &str = concat!(
    "^([A-Za-z0-9][A-Za-z0-9._@+-]{0,127}|oidc:",
    name_rule!(),
    "/",
    name_rule!(),
    ")$"
);
/// What a SHA-256 digest or a key id matches (either case; stored in lower case).
pub const HEX64_PATTERN: &str = "^[0-9A-Fa-f]{64}$";
/// What a git commit id matches: SHA-1 or SHA-256.
pub const COMMIT_PATTERN: &str = "^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$";
/// What a stored file path matches: `/`-separated segments of `[A-Za-z0-9._-]`,
/// none `.` or `..` (as `FilePath::parse` checks it).
pub const FILE_PATH_PATTERN: &str = "^(?!(.*/)?\\.{1,2}(/|$))[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$";
/// What a new file's path matches: also portable to Windows, no segment ending in
/// a dot and none a device name (as `FilePath::check_portable` checks it).
pub const PORTABLE_PATH_PATTERN: &str = "^(?!(.*/)?([Cc][Oo][Nn]|[Pp][Rr][Nn]|[Aa][Uu][Xx]|[Nn][Uu][Ll]|([Cc][Oo][Mm]|[Ll][Pp][Tt])[1-9])(\\.[^/]*)?(/|$))[A-Za-z0-9._-]*[A-Za-z0-9_-](/[A-Za-z0-9._-]*[A-Za-z0-9_-])*$";
/// What free text matches: anything but NUL (no database stores it).
pub const NO_NUL_PATTERN: &str = "^[^\\x00]*$";

/// At most 64 characters of a value, to name it in an error.
fn shown(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

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
                    Err(InvalidValue::invalid(format!(
                        "{} {:?} breaks the name rule: 1 to 63 characters of a-z, 0-9, \
                         '.', '_' or '-', the first a letter or digit (^{}$)",
                        $what,
                        shown(s),
                        name_rule!()
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
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
name_type!(
    /// An alias of a model (`staging`, `production`).
    AliasName,
    "alias"
);
name_type!(
    /// A trusted publisher's name inside its namespace.
    PublisherName,
    "publisher name"
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

impl Serialize for ModelRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
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

    /// Whether every client can write this path to disk, on any common OS: no
    /// segment ends with a dot, and none is a Windows device name. Checked for
    /// new files; files stored before the rule stay readable.
    pub fn check_portable(&self) -> Result<(), Error> {
        for seg in self.0.split('/') {
            if seg.ends_with('.') {
                return Err(Error::invalid(
                    "file path segments may not end with a dot (Windows drops it)",
                ));
            }
            // Windows reserves these device names in any case, with any extension.
            let stem = seg.split('.').next().unwrap_or_default();
            if is_device_name(stem) {
                return Err(Error::invalid(format!(
                    "{seg:?} names a device on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
                )));
            }
        }
        Ok(())
    }

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

    /// Why this path and `other` cannot both be files of one version, if they
    /// cannot: every client writes a version to disk, so no file may also be a
    /// directory, and no two paths may differ only in case anywhere along them
    /// (on a case-insensitive filesystem they would be the same file, or the same
    /// directory spelled two ways).
    pub fn clash(&self, other: &FilePath) -> Option<&'static str> {
        if self == other {
            return None;
        }
        let (a, b): (Vec<&str>, Vec<&str>) =
            (self.0.split('/').collect(), other.0.split('/').collect());
        for (x, y) in a.iter().zip(&b) {
            if x == y {
                continue;
            }
            if x.eq_ignore_ascii_case(y) {
                return Some(
                    "the path differs only in case from a file or directory of the version",
                );
            }
            // Diverged for good at a real difference: no clash below it.
            return None;
        }
        // One is a prefix of the other: a file where the other needs a directory.
        Some("the path clashes with a file or directory of the version")
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

/// Windows' reserved device names, which no file may be called on any OS a
/// version may be pulled to.
fn is_device_name(stem: &str) -> bool {
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && matches!(upper.as_bytes()[3], b'1'..=b'9'))
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
        Self::new(integral(d)?).map_err(serde::de::Error::custom)
    }
}

/// An integer as JSON writes it: `7`, or `7.0` (JSON Schema's `integer` includes
/// numbers with a zero fraction), never `7.5` and never beyond `T`'s range.
pub fn integral<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64)
            .map(|f| f as i64)
    });
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer in range, not {n}")))
}

/// [`integral`] for optional fields.
pub fn integral_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct Wrap<T: TryFrom<i64>>(#[serde(deserialize_with = "integral")] T);
    Ok(Option::<Wrap<T>>::deserialize(d)?.map(|w| w.0))
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
    /// What names a trusted publisher's principal: `oidc:<namespace>/<name>`.
    pub const PUBLISHER_PREFIX: &'static str = "oidc:";

    /// 1 to 128 bytes of `[A-Za-z0-9._@+-]`, starting with a letter or digit;
    /// or a trusted publisher's `oidc:<namespace>/<name>`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'@' | b'+' | b'-')
            });
        let publisher = s
            .strip_prefix(Self::PUBLISHER_PREFIX)
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(ns, name)| is_name(ns) && is_name(name));
        if ok || publisher {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::invalid(
                "principal must be 1 to 128 characters of [A-Za-z0-9._@+-]",
            ))
        }
    }

    /// The principal of a trusted publisher's tokens.
    pub fn publisher(ns: &Namespace, name: &PublisherName) -> Self {
        Self(format!("{}{ns}/{name}", Self::PUBLISHER_PREFIX))
    }

    /// Whether this names a trusted publisher (which holds no token or role
    /// binding of its own: its roles come from the publisher).
    pub fn is_publisher(&self) -> bool {
        self.0.starts_with(Self::PUBLISHER_PREFIX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lower-case hex of exactly `N` bytes' worth of digits, folded from any case.
fn hex_id(s: &str, digits: &[usize]) -> Option<String> {
    (digits.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| s.to_ascii_lowercase())
}

macro_rules! hex_type {
    ($(#[$doc:meta])* $ty:ident, $digits:expr, $msg:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Accepts hex digits of the right count; upper case is folded.
            pub fn parse(s: &str) -> Result<Self, Error> {
                hex_id(s, &$digits)
                    .map(Self)
                    .ok_or_else(|| Error::invalid($msg))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

    };
}

hex_type!(
    /// A key id: lowercase hex SHA-256 of a public key's canonical SPKI PEM (what
    /// OpenSSF Model Signing calls the key hint).
    KeyId,
    [64],
    "a keyid is 64 hex digits"
);
hex_type!(
    /// A git commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, kept in lower case.
    CommitId,
    [40, 64],
    "a commit is 40 or 64 hex digits"
);

/// Free text of at most `MAX` (and at least `MIN`) characters, without NUL: descriptions, reasons,
/// notes, names of keys. Every length rule of the API is one of these, so the
/// limit is written once, in the type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize, const MIN: usize = 0>(String);

impl<const MAX: usize, const MIN: usize> Text<MAX, MIN> {
    pub fn parse(s: impl Into<String>) -> Result<Self, Error> {
        let s = s.into();
        let n = s.chars().count();
        if n < MIN || n > MAX {
            return Err(Error::invalid(if MIN == 0 {
                format!("at most {MAX} characters")
            } else {
                format!("{MIN} to {MAX} characters")
            }));
        }
        if s.contains('\0') {
            return Err(Error::invalid("text may not contain NUL"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize, const MIN: usize> fmt::Display for Text<MAX, MIN> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize, const MIN: usize> Serialize for Text<MAX, MIN> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize, const MIN: usize> Deserialize<'de> for Text<MAX, MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Descriptions of namespaces, models and tokens.
pub type Description = Text<4096>;
/// Why something was done: promotions, revocation notes, lifting a quarantine.
pub type Reason = Text<1024>;
/// Why a quarantine was imposed: it must say something.
pub type RequiredReason = Text<1024, 1>;
/// The display name of a signing key.
pub type KeyName = Text<200, 1>;
/// A public key as uploaded (SPKI PEM text).
pub type PublicKeyText = Text<4096, 1>;

pub(crate) mod schema;
#[cfg(test)]
mod tests;
mod value;

pub(crate) use schema::described;
pub use schema::{NewFilePath, string_schema};
pub(crate) use value::text_value;

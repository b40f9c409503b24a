//! The closed sets of values Signet records: a version's state, a file's format,
//! roles, audit outcomes, key algorithms and revocation reasons, quarantine kinds,
//! the reasons a promotion is refused, and where a role is bound.
//!
//! Dependency rule: a leaf beside `names`. Each set is an enum with one spelling
//! per value, used in JSON and in SQL alike (the store binds and reads these types
//! directly, so no string form of them travels between the layers).

use crate::names::{InvalidValue, Namespace};

/// Declares an enum stored and sent as one fixed string per value.
macro_rules! text_enum {
    ($(#[$doc:meta])* $ty:ident, $what:literal { $($(#[$vdoc:meta])* $var:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $ty {
            $($(#[$vdoc])* $var),+
        }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$var),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$var => $text),+
                }
            }

            pub fn parse(s: &str) -> Result<Self, InvalidValue> {
                match s {
                    $($text => Ok($ty::$var),)+
                    _ => Err(InvalidValue(format!(
                        "{} must be one of: {}",
                        $what,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        crate::names::text_value!($ty, as_str);

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let b = utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]));
                utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(b.build()))
            }
        }

        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

text_enum!(
    /// Where a version is in its life: files may change while `Draft`; `Sealed`
    /// freezes files and lineage forever.
    VersionState, "state" {
        Draft = "draft",
        Sealed = "sealed",
    }
);

text_enum!(
    /// A file's format, recognised from its bytes (never its name).
    FileFormat, "format" {
        Safetensors = "safetensors",
        Onnx = "onnx",
        Gguf = "gguf",
        /// numpy arrays (`.npy`, `.npz`) of numbers.
        Numpy = "numpy",
        /// A JSON document (a model's `config.json`, `tokenizer.json`): data,
        /// never code.
        Json = "json",
        /// Pickle-based (raw pickle, PyTorch zip, joblib, numpy object arrays):
        /// loading it runs code.
        Pickle = "pickle",
        /// Could not be inspected within Signet's bounds (too deep, too large):
        /// treated as unsafe.
        Uninspectable = "uninspectable",
        Unknown = "unknown",
    }
);

impl FileFormat {
    /// Formats that may execute code when loaded.
    pub fn is_unsafe(self) -> bool {
        matches!(self, FileFormat::Pickle | FileFormat::Uninspectable)
    }
}

text_enum!(
    /// Where a webhook's delivery stands: queued or being retried, taken by
    /// the receiver, or given up.
    DeliveryState, "state" {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
);

text_enum!(
    /// Roles: `Admin` only globally, the others per namespace (`Auditor` also
    /// globally).
    Role, "role" {
        Admin = "admin",
        Maintainer = "maintainer",
        Publisher = "publisher",
        Approver = "approver",
        Deployer = "deployer",
        Auditor = "auditor",
        Reader = "reader",
    }
);

impl Role {
    /// Where this role may be bound: `admin` only globally, `auditor` anywhere,
    /// the others only in a namespace.
    pub fn bindable(self, scope: &BindingScope) -> bool {
        match self {
            Role::Admin => scope.is_global(),
            Role::Auditor => true,
            _ => !scope.is_global(),
        }
    }
}

text_enum!(
    /// How a request ended, as the access log records it.
    Outcome, "outcome" {
        Allowed = "allowed",
        /// Refused by authentication, authorization or a limit.
        Denied = "denied",
        /// Invalid, missing, or failed.
        Error = "error",
        /// Refused by the registry's policy: the promotion gate, or a
        /// deployer's pull the gate does not allow.
        Refused = "refused",
    }
);

impl Outcome {
    /// The outcome of a request that answered `status`; `refused` when
    /// authorization said no (a 404 can hide a namespace), `by_policy` when the
    /// registry's policy did.
    pub fn of(status: u16, refused: bool, by_policy: bool) -> Self {
        if (200..400).contains(&status) {
            Outcome::Allowed
        } else if by_policy {
            Outcome::Refused
        } else if refused || matches!(status, 401 | 403 | 429) {
            Outcome::Denied
        } else {
            Outcome::Error
        }
    }
}

text_enum!(
    /// Signature algorithms Signet verifies.
    Algorithm, "algorithm" {
        Ed25519 = "ed25519",
        EcdsaP256 = "ecdsa-p256",
        EcdsaP384 = "ecdsa-p384",
    }
);

text_enum!(
    /// Why a key stopped counting.
    RevocationReason, "reason" {
        /// Every signature by the key stops counting, past ones too.
        Compromised = "compromised",
        /// No new signatures; those received before the retirement keep counting.
        Retired = "retired",
    }
);

text_enum!(
    /// What a quarantine names.
    QuarantineKind, "kind" {
        Dataset = "dataset",
        Commit = "commit",
        Version = "version",
    }
);

text_enum!(
    /// Why the promotion gate refuses a version (the API's `reasons`).
    RefusalReason, "reason" {
        NotSealed = "not_sealed",
        Unsigned = "unsigned",
        SignatureInvalid = "signature_invalid",
        KeyRevoked = "key_revoked",
        InsufficientSignatures = "insufficient_signatures",
        LineageIncomplete = "lineage_incomplete",
        Quarantined = "quarantined",
        UnsafeFormat = "unsafe_format",
        UnknownFormat = "unknown_format",
        /// Signed only over the files (content-only signatures), which this
        /// alias does not accept.
        ContentOnly = "content_only",
        /// A deployer's pull of a version no alias points at (nor did within
        /// the policy's grace period), under `deployer_pulls: aliased`.
        NotAliased = "not_aliased",
        /// No attestation the stage requires verifies now by a signer its
        /// rule accepts.
        AttestationMissing = "attestation_missing",
        /// The attestation judged for a stage's rule fails a condition.
        AttestationUnmet = "attestation_unmet",
    }
);

text_enum!(
    /// What a stored signature is worth now: `verified`, or why it does not
    /// count (the API's signature status, and the verification metric's label).
    SignatureState, "signature status" {
        Verified = "verified",
        /// The envelope is malformed, or the key it names does not verify it.
        SignatureInvalid = "signature_invalid",
        /// No registered key verifies it, or the key is out of scope or expired.
        UntrustedKey = "untrusted_key",
        /// The key was revoked in a way that cancels this signature.
        KeyRevoked = "key_revoked",
        /// Signed bytes that are not exactly this version's statement.
        StatementMismatch = "statement_mismatch",
        /// No signature has the form of an algorithm Signet verifies.
        UnsupportedAlgorithm = "unsupported_algorithm",
        /// A content-only statement of a serialization Signet does not check.
        UnsupportedSerialization = "unsupported_serialization",
        /// A bundle that does not state the media type Signet accepts.
        UnsupportedBundle = "unsupported_bundle",
        /// A bundle whose key hint names another key than the one that verifies it.
        KeyHintMismatch = "key_hint_mismatch",
    }
);

/// Where a role is bound: in one namespace, or globally (written `*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BindingScope {
    Global,
    Namespace(Namespace),
}

impl BindingScope {
    /// How the API and the database spell the global scope.
    pub const GLOBAL: &'static str = "*";

    /// `*`, or a namespace name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s == Self::GLOBAL {
            Ok(Self::Global)
        } else {
            Namespace::parse(s).map(Self::Namespace)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Global => Self::GLOBAL,
            Self::Namespace(ns) => ns.as_str(),
        }
    }

    pub fn is_global(&self) -> bool {
        matches!(self, Self::Global)
    }

    pub fn namespace(&self) -> Option<&Namespace> {
        match self {
            Self::Global => None,
            Self::Namespace(ns) => Some(ns),
        }
    }
}

crate::names::text_value!(BindingScope, as_str);

/// What a binding scope matches: `*` or a namespace name.
pub const SCOPE_PATTERN: &str = concat!("^(\\*|", crate::name_rule!(), ")$");

crate::names::described!(
    BindingScope,
    "BindingScope",
    crate::names::string_schema(SCOPE_PATTERN)
        .description(Some("A namespace, or `*` for the global scope"))
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_has_one_spelling_both_ways() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(*r));
        }
        for r in RefusalReason::ALL {
            assert_eq!(RefusalReason::parse(r.as_str()), Ok(*r));
        }
        assert!(VersionState::parse("Sealed").is_err());
        assert_eq!(
            serde_json::to_value(FileFormat::Pickle).unwrap(),
            serde_json::json!("pickle")
        );
    }

    #[test]
    fn the_global_scope_is_spelled_star() {
        assert_eq!(BindingScope::parse("*"), Ok(BindingScope::Global));
        assert_eq!(BindingScope::parse("fraud").unwrap().as_str(), "fraud");
        assert!(BindingScope::parse("**").is_err());
        assert!(Role::Admin.bindable(&BindingScope::Global));
        assert!(!Role::Publisher.bindable(&BindingScope::Global));
    }

    #[test]
    fn outcomes_follow_status_and_refusal() {
        assert_eq!(Outcome::of(200, false, false), Outcome::Allowed);
        assert_eq!(Outcome::of(404, true, false), Outcome::Denied);
        assert_eq!(Outcome::of(404, false, false), Outcome::Error);
        assert_eq!(Outcome::of(401, false, false), Outcome::Denied);
        assert_eq!(Outcome::of(409, false, true), Outcome::Refused);
        assert_eq!(Outcome::of(200, false, true), Outcome::Allowed);
    }
}

/// What a quarantine names. Its stored form is a kind and a value, written and
/// read only here: a dataset digest, a commit id, or `namespace/model@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuarantineTarget {
    Dataset(crate::names::Sha256),
    Commit(crate::names::CommitId),
    Version(crate::names::ModelRef, crate::names::VersionNumber),
}

impl QuarantineTarget {
    pub fn parse(kind: QuarantineKind, value: &str) -> Result<Self, InvalidValue> {
        use crate::names::{CommitId, ModelRef, Sha256, VersionNumber};
        Ok(match kind {
            QuarantineKind::Dataset => Self::Dataset(Sha256::parse(value)?),
            QuarantineKind::Commit => Self::Commit(CommitId::parse(value)?),
            QuarantineKind::Version => {
                let (m, v) = value.rsplit_once('@').ok_or_else(|| {
                    InvalidValue("a version is written namespace/model@version".into())
                })?;
                Self::Version(ModelRef::parse(m)?, VersionNumber::parse(v)?)
            }
        })
    }

    pub fn kind(&self) -> QuarantineKind {
        match self {
            Self::Dataset(_) => QuarantineKind::Dataset,
            Self::Commit(_) => QuarantineKind::Commit,
            Self::Version(..) => QuarantineKind::Version,
        }
    }

    pub fn value(&self) -> String {
        match self {
            Self::Dataset(d) => d.to_hex(),
            Self::Commit(c) => c.as_str().to_owned(),
            Self::Version(m, v) => format!("{m}@{v}"),
        }
    }

    /// The namespace a version quarantine belongs to; dataset and commit
    /// quarantines reach every namespace.
    pub fn namespace(&self) -> Option<&Namespace> {
        match self {
            Self::Version(m, _) => Some(&m.namespace),
            _ => None,
        }
    }
}

//! The domain error. It carries no HTTP types: `http::error` owns the mapping to
//! status codes and machine codes, in one place.
//!
//! Dependency rule: depends only on the leaves (`names`, `kinds`) and the
//! verifier's rejection codes (`signing::verify`), which depend on nothing here.

use crate::api::Refusal;
use crate::kinds::RefusalReason;
use crate::names::{InvalidValue, Namespace};

/// Everything a domain operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// No credential was sent.
    #[error("authentication required: send Authorization: Bearer <token>")]
    Unauthenticated,
    /// A credential was sent that does not authenticate.
    #[error("the token is unknown, expired or revoked")]
    TokenRefused,
    /// An identity token (OpenID Connect) refused at the exchange; the code
    /// says which check failed.
    #[error("{}", .0.message())]
    IdentityRefused(crate::oidc::Refusal),
    /// An accepted OpenID Connect issuer whose keys could not be fetched.
    #[error("the identity provider {0} cannot be reached to check the token; try again later")]
    IssuerUnavailable(String),
    /// A trusted publisher's settings that break its rules (an issuer not
    /// accepted, a claim name without its id, a role it cannot grant).
    #[error("{0}")]
    InvalidPublisher(String),
    /// A principal name only trusted publishing gives (`oidc:…`), asked for a
    /// token or a role binding.
    #[error("{0}")]
    ReservedPrincipal(String),
    /// A version's lineage that contradicts the CI identity creating it (its
    /// commit or repository); the message names both values.
    #[error("{0}")]
    LineageMismatch(String),
    /// A registry token presented for a repository it was not minted for (the
    /// repository as asked): the client asks the token endpoint for another.
    #[error("the registry token does not cover repository {0}; ask /v2/token for one that does")]
    OutOfScope(String),
    /// Authorization said no. Only `auth::authorize` makes one. A hidden
    /// namespace is answered as a missing one, named as asked.
    #[error("{}", denial_message(.0))]
    Denied(Denial),
    /// Refused for a reason that is not about a namespace, named in the
    /// message (403).
    #[error("{0}")]
    NotAllowed(String),
    /// Missing (an object that does not exist, not one authorization hides).
    #[error("not found")]
    NotFound,
    /// Something asked for by name that does not exist: the kind and the
    /// name asked for (`model fraud/scorer`), as the caller gave them.
    #[error("{0} not found")]
    Missing(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the version is sealed")]
    VersionSealed,
    #[error("a version needs at least one file before it is sealed")]
    EmptyVersion,
    /// Lineage is well-formed but refers to something unusable (a missing or
    /// unsealed parent).
    #[error("{0}")]
    InvalidLineage(String),
    /// A deployer may not pull the version now; every reason is listed (the
    /// gate's checks that do not depend on a stage, and the pull policy).
    #[error("{}", pull_refused(.0))]
    PullRefused(Vec<Refusal>),
    #[error("only a sealed version can be signed")]
    VersionNotSealed,
    /// Key material that is well-formed but cannot be trusted (small order,
    /// non-canonical encoding).
    #[error("{0}")]
    WeakKey(String),
    /// Key material of an algorithm Signet does not verify.
    #[error("{0}")]
    UnsupportedAlgorithm(String),
    #[error("the file is named .safetensors but its header is not a valid safetensors header")]
    InvalidSafetensors,
    /// A signature that does not count; the code says why.
    #[error("the signature was refused: {}", .0.code())]
    SignatureRejected(crate::signing::verify::Rejection),
    /// An attestation whose signature verifies but whose statement is not
    /// about the version (its subjects, its shape); the message names what.
    #[error("the attestation was refused: {0}")]
    InvalidAttestation(String),
    /// A promotion rule's condition that is not Rego that compiles; the
    /// message names it and why.
    #[error("{0}")]
    InvalidRule(String),
    /// The registry signs no promotion records (PostgreSQL without
    /// `SIGNET_REGISTRY_KEY_FILE`).
    #[error(
        "the registry has no signing key: promotion records are not signed (set SIGNET_REGISTRY_KEY_FILE)"
    )]
    RecordsUnavailable,
    /// A promotion refused; every reason is listed.
    #[error("promotion refused: {}", crate::api::refusals::codes(.0).join(", "))]
    PromotionRefused(Vec<Refusal>),
    #[error("the declared digest does not match the bytes received")]
    DigestMismatch,
    /// Faster than the caller's rate; it may try again after `retry_after` seconds.
    #[error("too many requests: retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The principal's daily download quota does not hold this download; it may
    /// try again after `retry_after` seconds.
    #[error("{message}; retry after {retry_after} s")]
    QuotaExceeded { retry_after: u64, message: String },
    /// An upload's body arrived slower than the configured minimum rate.
    #[error("the upload was slower than {min_bytes} bytes in {window_secs} s and was aborted")]
    UploadTooSlow { min_bytes: u64, window_secs: u64 },
    /// A known role that cannot be bound in the scope asked for (`admin` in a
    /// namespace, say).
    #[error("{0}")]
    RoleNotAllowed(String),
    #[error("a version holds at most {limit} files")]
    TooManyFiles { limit: usize },
    /// A resumable upload's part was sent for another offset than the one the
    /// session has committed.
    #[error("the upload is at offset {offset}; send the bytes from there")]
    UploadOffsetMismatch { offset: u64 },
    /// A resumable upload completed before all its declared bytes arrived.
    #[error("the upload holds {offset} of its {size} bytes")]
    UploadIncomplete { offset: u64, size: u64 },
    #[error("a version has at most {limit} uploads open at once")]
    TooManyUploads { limit: usize },
    #[error("the body exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the requested range cannot be satisfied")]
    RangeNotSatisfiable { size: u64 },
    /// Something removed trust (a revocation, a quarantine, a policy) between a
    /// promotion's judgement and its move; the move did not happen. The domain
    /// judges again; it never reaches an answer.
    #[error("trust changed during the promotion")]
    TrustChanged,
    /// Stored bytes that do not match what was recorded of them (tampered or
    /// damaged storage): nothing of them is served as if it were right.
    #[error(
        "the stored bytes of this file fail their integrity check; the registry's operators are alerted"
    )]
    Integrity,
    /// The artifact storage has no room left (a full disk); nothing was kept.
    #[error("the artifact storage is full; nothing was kept")]
    StorageFull,
    /// A webhook's settings break its rules (a target the SSRF policy
    /// refuses, an unknown event type).
    #[error("{0}")]
    InvalidWebhook(String),
    /// Webhooks are off (no key to seal their secrets with); the reason is
    /// the operator's to act on.
    #[error("webhooks are off: {0}")]
    WebhooksUnavailable(String),
    /// The transparency log cannot sign (no log key); the reason is the
    /// operator's to act on.
    #[error("the transparency log is off: {0}")]
    LogUnavailable(String),
    /// A dependency (database, blob store) cannot answer right now.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an unexpected failure; logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What an authorization refusal says about itself: whether it hides the
/// namespace (answered as "not found"), and which namespace was asked for, so
/// the access log files the attempt under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub hidden: bool,
    pub namespace: Option<Namespace>,
}

/// A refusal's message: a hidden namespace reads like a missing one.
fn denial_message(d: &Denial) -> String {
    match (d.hidden, &d.namespace) {
        (true, Some(ns)) => format!("namespace {ns} not found"),
        (true, None) => "not found".to_owned(),
        (false, _) => "not allowed".to_owned(),
    }
}

impl Error {
    /// A `NotFound` named with what was asked for (`what` gives the kind and
    /// the name); any other error as it is.
    pub fn named(self, what: impl FnOnce() -> String) -> Self {
        match self {
            Error::NotFound => Error::Missing(what()),
            e => e,
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    /// Whether a refused pull is answered as `quarantined` (a quarantine is
    /// among its reasons) rather than `version_not_verified`.
    pub fn pull_refusal_is_quarantine(reasons: &[Refusal]) -> bool {
        reasons
            .iter()
            .any(|r| r.reason == RefusalReason::Quarantined)
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    /// A refusal that is not about any namespace.
    pub fn forbidden() -> Self {
        Self::Denied(Denial {
            hidden: false,
            namespace: None,
        })
    }
}

/// A refused pull's message: quarantined, or not verified (as the contract
/// has always named them), with every reason's code.
fn pull_refused(reasons: &[Refusal]) -> String {
    let what = match Error::pull_refusal_is_quarantine(reasons) {
        true => "the version is quarantined",
        false => "the version is not verified for deployers",
    };
    format!(
        "{what}: {}",
        crate::api::refusals::codes(reasons).join(", ")
    )
}

impl From<crate::oidc::Failure> for Error {
    fn from(f: crate::oidc::Failure) -> Self {
        match f {
            crate::oidc::Failure::Refused(r) => Self::IdentityRefused(r),
            crate::oidc::Failure::Unavailable(issuer) => Self::IssuerUnavailable(issuer),
        }
    }
}

impl From<crate::oidc::Refusal> for Error {
    fn from(r: crate::oidc::Refusal) -> Self {
        Self::IdentityRefused(r)
    }
}

impl From<InvalidValue> for Error {
    fn from(e: InvalidValue) -> Self {
        Self::Invalid(e.0)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(e.into()),
            // The database is going away or not there yet (SQLSTATE classes
            // 08 connection exception, 57P operator intervention: shutdown,
            // crash, starting up; 53 insufficient resources): a 503 to try
            // again, not a 500.
            sqlx::Error::Database(ref db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")
                }) =>
            {
                Error::Unavailable(e.into())
            }
            other => Error::Internal(other.into()),
        }
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Error::Internal(e.into()),
            other if storage_full(&other) => Error::StorageFull,
            other => Error::Unavailable(other.into()),
        }
    }
}

/// Whether an error was caused by a full disk (ENOSPC, or a quota).
pub fn storage_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        }) {
            return true;
        }
        cause = c.source();
    }
    false
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

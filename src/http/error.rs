//! The one place domain errors become HTTP answers: status, stable machine code,
//! and a message that never carries internals.

use crate::api::Refusal;
pub use crate::api::{ErrorBody, ErrorDetail};
use crate::error::Error;
use crate::names::Namespace;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Marks an answer that authorization refused, with the namespace it was asked
/// about, for the access log (see `middleware::audit_requests`).
#[derive(Debug, Clone)]
pub struct Refused(pub Option<Namespace>);

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// What only some answers carry (boxed: errors travel by value).
    extra: Box<Extra>,
}

#[derive(Debug, Default)]
struct Extra {
    content_range: Option<u64>,
    /// A refusal's reasons, with what failed.
    refusals: Vec<Refusal>,
    refused: Option<Refused>,
    retry_after: Option<u64>,
    /// A resumable upload's committed offset (`Upload-Offset`).
    upload_offset: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Box::default(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn with(mut self, f: impl FnOnce(&mut Extra)) -> Self {
        f(&mut self.extra);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            Error::Invalid(_) => Self::new(S::BAD_REQUEST, "invalid_request", msg),
            Error::InvalidLineage(_) => Self::new(S::UNPROCESSABLE_ENTITY, "invalid_lineage", msg),
            Error::Unauthenticated | Error::TokenRefused => {
                Self::new(S::UNAUTHORIZED, "unauthenticated", msg)
            }
            Error::OutOfScope(_) | Error::NotAllowed(_) => {
                Self::new(S::FORBIDDEN, "forbidden", msg)
            }
            Error::IdentityRefused(r) => Self::new(S::UNAUTHORIZED, r.code(), msg),
            Error::IssuerUnavailable(_) => {
                Self::new(S::SERVICE_UNAVAILABLE, "issuer_unavailable", msg)
            }
            Error::LogUnavailable(_) => Self::new(S::SERVICE_UNAVAILABLE, "log_unavailable", msg),
            Error::RecordsUnavailable => {
                Self::new(S::SERVICE_UNAVAILABLE, "records_unavailable", msg)
            }
            Error::WebhooksUnavailable(_) => {
                Self::new(S::SERVICE_UNAVAILABLE, "webhooks_unavailable", msg)
            }
            Error::InvalidWebhook(_) => Self::new(S::UNPROCESSABLE_ENTITY, "invalid_webhook", msg),
            Error::InvalidPublisher(_) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "invalid_publisher", msg)
            }
            Error::ReservedPrincipal(_) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "reserved_principal", msg)
            }
            Error::LineageMismatch(_) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "lineage_mismatch", msg)
            }
            Error::Denied(d) => {
                let (status, code) = if d.hidden {
                    (S::NOT_FOUND, "not_found")
                } else {
                    (S::FORBIDDEN, "forbidden")
                };
                Self::new(status, code, msg).with(|x| x.refused = Some(Refused(d.namespace)))
            }
            Error::PullRefused(refusals) => {
                let code = match Error::pull_refusal_is_quarantine(&refusals) {
                    true => "quarantined",
                    false => "version_not_verified",
                };
                Self::new(S::FORBIDDEN, code, msg).with(|x| x.refusals = refusals)
            }
            Error::NotFound | Error::Missing(_) => Self::new(S::NOT_FOUND, "not_found", msg),
            Error::Conflict(_) => Self::new(S::CONFLICT, "conflict", msg),
            Error::VersionSealed => Self::new(S::CONFLICT, "version_sealed", msg),
            Error::EmptyVersion => Self::new(S::CONFLICT, "empty_version", msg),
            Error::DigestMismatch => Self::new(S::BAD_REQUEST, "digest_mismatch", msg),
            Error::VersionNotSealed => Self::new(S::CONFLICT, "version_not_sealed", msg),
            Error::RoleNotAllowed(_) => Self::new(S::UNPROCESSABLE_ENTITY, "role_not_allowed", msg),
            Error::UnsupportedAlgorithm(_) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "unsupported_algorithm", msg)
            }
            Error::WeakKey(_) => Self::new(S::UNPROCESSABLE_ENTITY, "weak_key", msg),
            Error::InvalidSafetensors => {
                Self::new(S::UNPROCESSABLE_ENTITY, "invalid_safetensors", msg)
            }
            Error::SignatureRejected(r) => Self::new(S::UNPROCESSABLE_ENTITY, r.code(), msg),
            Error::InvalidRule(_) => Self::new(S::UNPROCESSABLE_ENTITY, "invalid_rule", msg),
            Error::InvalidAttestation(_) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "invalid_attestation", msg)
            }
            Error::PromotionRefused(refusals) => {
                Self::new(S::CONFLICT, "promotion_refused", msg).with(|x| x.refusals = refusals)
            }
            Error::TooLarge { .. } => Self::new(S::PAYLOAD_TOO_LARGE, "too_large", msg),
            Error::TooManyFiles { .. } => Self::new(S::CONFLICT, "too_many_files", msg),
            Error::UploadOffsetMismatch { offset } => {
                Self::new(S::CONFLICT, "upload_offset_mismatch", msg)
                    .with(|x| x.upload_offset = Some(offset))
            }
            Error::UploadIncomplete { offset, .. } => {
                Self::new(S::CONFLICT, "upload_incomplete", msg)
                    .with(|x| x.upload_offset = Some(offset))
            }
            Error::TooManyUploads { .. } => Self::new(S::CONFLICT, "too_many_uploads", msg),
            Error::RateLimited { retry_after } => {
                Self::new(S::TOO_MANY_REQUESTS, "rate_limited", msg)
                    .with(|x| x.retry_after = Some(retry_after))
            }
            Error::QuotaExceeded { retry_after, .. } => {
                Self::new(S::TOO_MANY_REQUESTS, "quota_exceeded", msg)
                    .with(|x| x.retry_after = Some(retry_after))
            }
            Error::UploadTooSlow { .. } => Self::new(S::REQUEST_TIMEOUT, "upload_too_slow", msg),
            Error::RangeNotSatisfiable { size } => {
                Self::new(S::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", msg)
                    .with(|x| x.content_range = Some(size))
            }
            Error::TrustChanged => Self::new(
                S::CONFLICT,
                "conflict",
                "trust changed while the promotion was judged; try again",
            ),
            Error::Integrity => {
                tracing::error!("stored bytes failed their integrity check; download refused");
                Self::new(S::INTERNAL_SERVER_ERROR, "integrity_failure", msg)
            }
            Error::StorageFull => {
                tracing::error!("the artifact storage is full");
                Self::new(S::INSUFFICIENT_STORAGE, "insufficient_storage", msg)
            }
            Error::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "dependency unavailable");
                Self::new(S::SERVICE_UNAVAILABLE, "unavailable", "service unavailable")
            }
            Error::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Self::new(S::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

/// The codes of requests refused by a limit (counted in the metrics).
const LIMITS: [&str; 5] = [
    "rate_limited",
    "quota_exceeded",
    "too_many_connections",
    "request_timeout",
    "upload_too_slow",
];

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if LIMITS.contains(&self.code) {
            crate::metrics::limited(self.code);
        }
        let extra = *self.extra;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
                request_id: super::current_request_id(),
                reasons: crate::api::refusals::codes(&extra.refusals),
                details: extra.refusals,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = extra.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(offset) = extra.upload_offset {
            resp.headers_mut()
                .insert(super::UPLOAD_OFFSET, HeaderValue::from(offset));
        }
        if let Some(refused) = extra.refused {
            resp.extensions_mut().insert(refused);
        }
        if let Some(size) = extra.content_range
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        resp
    }
}

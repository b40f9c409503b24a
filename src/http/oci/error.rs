//! The OCI face's answers to failures: the distribution-spec's error envelope
//! `{"errors": [{"code", "message", "detail"}]}`, its codes, and the bearer
//! challenge registry clients follow to the token endpoint.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::super::error::Refused;
use crate::error::Error;
use crate::oci::{OciError, Unknown};

/// Where a request was going, to word its failure and its challenge.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The token endpoint's absolute URL.
    pub realm: String,
    /// The repository of the path, as asked (`ns/model`).
    pub repository: Option<String>,
    /// The manifest reference or blob digest, as asked.
    pub target: Option<String>,
}

/// One OCI failure, ready to answer.
#[derive(Debug)]
pub struct OciFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// What only some answers carry (boxed: failures travel by value).
    x: Box<Extra>,
}

#[derive(Debug, Default)]
struct Extra {
    detail: Option<serde_json::Value>,
    /// `WWW-Authenticate`, for a 401.
    challenge: Option<String>,
    retry_after: Option<u64>,
    /// A 416's blob size (`Content-Range: bytes */N`).
    size: Option<u64>,
    refused: Option<Refused>,
}

impl OciFailure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            x: Box::default(),
        }
    }

    /// A malformed request part: its code and why.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// What a push method gets: this face is read-only.
    pub fn read_only() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "Signet's OCI face is read-only: publish versions with `signet push` (or the /v1 API), \
             then pull them here",
        )
    }

    /// A repository that is not there, or that the caller may not see: the
    /// same answer for both.
    fn name_unknown(ctx: &Context) -> Self {
        let repo = ctx.repository.as_deref().unwrap_or("?");
        Self::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("repository {repo} is not known to this registry"),
        )
    }

    /// A failure of a request to `ctx`.
    pub fn of(e: OciError, ctx: &Context) -> Self {
        let repo = ctx.repository.as_deref().unwrap_or("?");
        let target = ctx.target.as_deref().unwrap_or("?");
        match e {
            OciError::Unknown(Unknown::Repository) => Self::name_unknown(ctx),
            OciError::Unknown(Unknown::Manifest) => Self::new(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("manifest {target} is not known in {repo} (or not one you may pull)"),
            ),
            OciError::Unknown(Unknown::Blob) => Self::new(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                format!("blob {target} is not known in {repo} (or not in a version you may pull)"),
            ),
            OciError::Failed(e) => Self::of_error(e, ctx),
        }
    }

    fn of_error(e: Error, ctx: &Context) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            Error::Unauthenticated => Self::unauthorized(
                "authentication required: send a Signet API token as the password of HTTP Basic, \
                 or a registry token from the token endpoint",
                ctx,
                None,
            ),
            Error::TokenRefused => Self::unauthorized(&msg, ctx, Some("invalid_token")),
            Error::OutOfScope(_) => Self::unauthorized(&msg, ctx, Some("insufficient_scope")),
            Error::Denied(d) if d.hidden => {
                let mut f = Self::name_unknown(ctx);
                f.x.refused = Some(Refused(d.namespace));
                f
            }
            Error::Denied(d) => {
                let repo = ctx.repository.as_deref().unwrap_or("?");
                let mut f = Self::new(
                    S::FORBIDDEN,
                    "DENIED",
                    format!("your roles do not let you pull from {repo}"),
                );
                f.x.refused = Some(Refused(d.namespace));
                f
            }
            Error::PullRefused(refusals) => {
                let mut f = Self::new(S::FORBIDDEN, "DENIED", msg);
                f.x.detail = Some(serde_json::json!({
                    "reasons": crate::api::refusals::codes(&refusals),
                    "details": refusals,
                }));
                f
            }
            Error::Missing(_) | Error::NotFound => Self::of(OciError::Unknown(Unknown::Blob), ctx),
            Error::RateLimited { retry_after } => Self::too_many("rate_limited", msg, retry_after),
            Error::QuotaExceeded { retry_after, .. } => {
                Self::too_many("quota_exceeded", msg, retry_after)
            }
            Error::RangeNotSatisfiable { size } => {
                let mut f = Self::new(
                    S::RANGE_NOT_SATISFIABLE,
                    "SIZE_INVALID",
                    format!("the range asked for is outside the blob's {size} bytes"),
                );
                f.x.size = Some(size);
                f
            }
            Error::Invalid(m) => Self::invalid("UNSUPPORTED", m),
            Error::NotAllowed(m) => Self::new(S::FORBIDDEN, "DENIED", m),
            // Everything else is what `/v1` would answer: shaped there, logged
            // there, without internals.
            other => {
                let api = super::super::error::ApiError::from(other);
                let code = match api.status() {
                    S::SERVICE_UNAVAILABLE => "UNAVAILABLE",
                    _ => "UNKNOWN",
                };
                Self::new(api.status(), code, api.message())
            }
        }
    }

    fn too_many(limit: &'static str, message: String, retry_after: u64) -> Self {
        crate::metrics::limited(limit);
        let mut f = Self::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", message);
        f.x.retry_after = Some(retry_after);
        f
    }

    /// A 401 with the challenge that sends the client to the token endpoint
    /// for this repository.
    fn unauthorized(message: &str, ctx: &Context, error: Option<&str>) -> Self {
        let mut challenge = format!("Bearer realm=\"{}\",service=\"{}\"", ctx.realm, SERVICE);
        if let Some(repo) = &ctx.repository {
            challenge.push_str(&format!(",scope=\"repository:{repo}:pull\""));
        }
        if let Some(e) = error {
            challenge.push_str(&format!(",error=\"{e}\""));
        }
        let mut f = Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
        f.x.challenge = Some(challenge);
        f
    }
}

/// The service name of the token protocol.
pub const SERVICE: &str = "signet";

#[derive(Serialize)]
struct Envelope<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl IntoResponse for OciFailure {
    fn into_response(self) -> Response {
        let x = *self.x;
        let body = Envelope {
            errors: [Entry {
                code: self.code,
                message: &self.message,
                detail: x.detail.as_ref(),
            }],
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        if let Some(c) = x.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(secs) = x.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(size) = x.size
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
        if let Some(r) = x.refused {
            resp.extensions_mut().insert(r);
        }
        resp
    }
}

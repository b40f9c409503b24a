//! Extractors: every input is parsed into a typed value here, and every rejection
//! comes out in the error envelope.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, PartialSchema};

use super::AppState;
use super::UPLOAD_OFFSET;
use super::error::ApiError;
use crate::auth::{Principal, Provisional};
use crate::error::Error;
use crate::names::Sha256;
use crate::page::Page;
use crate::registry::RangeSpec;
use crate::trail::Trail;

/// Largest JSON request body: metadata (64 KiB) and a full lineage (1000 datasets,
/// 100 parents) fit well within it.
pub const MAX_JSON_BODY: usize = 1 << 20;

/// JSON body: a JSON object (anything else is 400 on every route), at most
/// [`MAX_JSON_BODY`] bytes (a larger declared `Content-Length` is refused before a
/// byte is read); unknown fields are refused by the target types.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::invalid(
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let body = object_body(req, MAX_JSON_BODY).await?;
        let mut de = serde_json::Deserializer::from_slice(&body);
        let value = serde_path_to_error::deserialize::<_, T>(&mut de)
            .map_err(|e| ApiError::invalid(field_error(&e)))?;
        de.end()
            .map_err(|_| ApiError::invalid("the body must hold one JSON object"))?;
        Ok(Self(value))
    }
}

/// A form body (`application/x-www-form-urlencoded`, at most 32 KiB), as an
/// OAuth token endpoint takes it; unknown and repeated fields are refused by
/// the target type.
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        const MAX_FORM_BODY: usize = 32 * 1024;
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(ApiError::invalid(
                "expected a form body with Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BODY)
            .await
            .map_err(|_| {
                ApiError::from(Error::TooLarge {
                    limit: MAX_FORM_BODY as u64,
                })
            })?;
        serde_urlencoded::from_bytes(&body)
            .map(Self)
            .map_err(|e| ApiError::invalid(format!("the form: {e}")))
    }
}

/// Where an unauthenticated request comes from: the client's address and the
/// request's audit trail.
pub struct Origin(pub Option<std::net::IpAddr>, pub Trail);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (client, trail) = origin(parts);
        Ok(Self(client, trail))
    }
}

/// A body that does not fit its type, told as the field's path and the rule
/// it breaks: in the caller's terms, without the parser's position or words.
fn field_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() {
        return "the body is not valid JSON".to_owned();
    }
    let text = inner.to_string();
    // serde_json appends where it was; the path says it better.
    let text = match text.rsplit_once(" at line ") {
        Some((msg, _)) => msg.to_owned(),
        None => text,
    };
    let mut path = e.path().to_string();
    // An unknown field is named by the rule: the path is where it was sent.
    if text.starts_with("unknown field ") {
        path = path
            .rsplit_once('.')
            .map_or_else(String::new, |(parent, _)| parent.to_owned());
    }
    let field = match path.as_str() {
        "." | "" => "the body".to_owned(),
        p => p.to_owned(),
    };
    format!("{field}: {}", rule_of(&text))
}

/// serde's words for a broken rule, said plainly.
fn rule_of(text: &str) -> String {
    let unquote = |s: &str| s.replace('`', "");
    if let Some(rest) = text.strip_prefix("missing field ") {
        return format!("{} is required", unquote(rest));
    }
    if let Some(rest) = text.strip_prefix("unknown field ") {
        return match rest.split_once(", expected ") {
            Some((f, allowed)) => format!(
                "{} is not a field here (the fields are {})",
                unquote(f),
                unquote(allowed).trim_start_matches("one of ")
            ),
            None => format!("{} is not a field here", unquote(rest)),
        };
    }
    if let Some(rest) = text.strip_prefix("invalid type: ")
        && let Some((got, want)) = rest.split_once(", expected ")
    {
        return format!("must be {want}, not {got}");
    }
    if let Some(rest) = text.strip_prefix("unknown variant ")
        && let Some((got, want)) = rest.split_once(", expected ")
    {
        return format!(
            "{} is not one of {}",
            unquote(got),
            unquote(want).trim_start_matches("one of ")
        );
    }
    text.to_owned()
}

/// Whether the request says its body is JSON (`application/json`, `…+json`).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// The bytes of a body that must be a JSON object of at most `max` bytes.
async fn object_body(req: Request, max: usize) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || Error::TooLarge { limit: max as u64 };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large().into());
    }
    let body = axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|e| {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                ApiError::from(too_large())
            } else {
                ApiError::invalid("the body could not be read")
            }
        })?;
    if body.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    Ok(body)
}

/// Query string; unknown parameters are refused by the target types.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::invalid(e.body_text()))
            }
            Err(_) => Err(ApiError::invalid("invalid query string")),
        }
    }
}

/// What a request presents to authenticate: its bearer token, the client's
/// address and its audit trail.
fn presented(parts: &Parts) -> (Option<&str>, Option<std::net::IpAddr>, Trail) {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let (client, trail) = origin(parts);
    (bearer, client, trail)
}

/// Where a request comes from: the client's address and its audit trail.
pub(super) fn origin(parts: &Parts) -> (Option<std::net::IpAddr>, Trail) {
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let trail = parts.extensions.get::<Trail>().cloned().unwrap_or_default();
    (client, trail)
}

/// The authenticated caller. A missing, malformed, unknown, expired or revoked
/// token is a 401: there is no anonymous access to `/v1`.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (bearer, client, trail) = presented(parts);
        Ok(state.access.authenticate(bearer, client, trail).await?)
    }
}

/// The caller of a read that confirms it (`Access::serve`): perhaps from the
/// credential this replica kept. Refused as [`Principal`] is.
impl FromRequestParts<AppState> for Provisional {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (bearer, client, trail) = presented(parts);
        Ok(state
            .access
            .authenticate_kept(bearer, client, trail)
            .await?)
    }
}

/// `Upload-Offset` of an append: where its bytes start (required).
pub struct UploadOffset(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for UploadOffset {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get(UPLOAD_OFFSET)
            .and_then(|h| h.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Self)
            .ok_or_else(|| {
                ApiError::invalid("an append needs Upload-Offset: the offset its bytes start at")
            })
    }
}

/// `?limit=&cursor=` of list routes, for the OpenAPI document (read by
/// [`Paging`], by `Page`'s rules).
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 1000, default 50.
    #[param(schema_with = Page::limit_schema)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = Page::cursor_schema)]
    cursor: Option<String>,
}

/// A list route with no filters besides paging.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

/// A list route's query: its own filters `Q` (unknown parameters refused by
/// `Q`) and the page asked for. The one place paging is read.
pub struct Paging<Q = NoFilter>(pub Q, pub Page);

impl<Q: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Paging<Q> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::invalid("invalid query string"))?;
        Self::of_pairs(pairs)
    }
}

impl<Q: DeserializeOwned> Paging<Q> {
    /// The query of a form, whose empty fields mean "not given".
    pub fn of_form(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        Self::of_pairs(
            pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .cloned()
                .collect(),
        )
    }

    fn of_pairs(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let (mut limit, mut cursor, mut rest) = (None, None, Vec::new());
        for (k, v) in pairs {
            match k.as_str() {
                "limit" if limit.is_none() => limit = Some(v),
                "cursor" if cursor.is_none() => cursor = Some(v),
                "limit" | "cursor" => return Err(ApiError::invalid(format!("{k} is given twice"))),
                _ => rest.push((k, v)),
            }
        }
        let limit = limit
            .map(|l| l.parse::<u32>())
            .transpose()
            .map_err(|_| ApiError::invalid("limit must be between 1 and 1000"))?;
        let page = Page::parse(limit, cursor.as_deref()).map_err(Error::from)?;
        let rest = serde_urlencoded::to_string(&rest)
            .map_err(|_| ApiError::invalid("invalid query string"))?;
        let filters = serde_urlencoded::from_str::<Q>(&rest)
            .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))?;
        Ok(Self(filters, page))
    }
}

/// What an upload declares in its headers: its length, and the digest the bytes
/// must have (`X-Checksum-Sha256`).
pub struct UploadHeaders {
    pub length: Option<u64>,
    pub sha256: Option<Sha256>,
}

/// The header a client states a file's digest in, and the server answers it in.
pub const CHECKSUM: &str = "x-checksum-sha256";

/// The document states the digest header (`Content-Length` is HTTP's own).
impl IntoParams for UploadHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("X-Checksum-Sha256")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Expected SHA-256 of the bytes, hex"))
                .schema(Some(<Sha256 as PartialSchema>::schema()))
                .build(),
        ]
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UploadHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|h| h.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok());
        let sha256 = parts
            .headers
            .get(CHECKSUM)
            .map(|h| Sha256::parse(h.to_str().unwrap_or_default()))
            .transpose()
            .map_err(Error::from)?;
        Ok(Self { length, sha256 })
    }
}

/// The `Range` of a download; a form Signet does not serve is ignored (RFC 9110
/// allows answering with the whole file).
pub struct RangeHeader(pub Option<RangeSpec>);

impl<S: Send + Sync> FromRequestParts<S> for RangeHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(
            parts
                .headers
                .get(header::RANGE)
                .and_then(|h| h.to_str().ok())
                .and_then(RangeSpec::parse),
        ))
    }
}

/// The bytes of a JSON object body of at most `MAX` bytes (413 beyond), kept
/// exactly as sent (signature documents are stored verbatim).
pub struct JsonObjectBytes<const MAX: usize>(pub axum::body::Bytes);

impl<const MAX: usize, S: Send + Sync> FromRequest<S> for JsonObjectBytes<MAX> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        Ok(Self(object_body(req, MAX).await?))
    }
}

/// Whether a download's client accepts a redirect to a presigned URL
/// (`X-Signet-Accept-Redirect: true`).
pub struct AcceptRedirect(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptRedirect {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let v = parts.headers.get(crate::api::ACCEPT_REDIRECT);
        Ok(Self(v.is_some_and(|v| {
            v.as_bytes().eq_ignore_ascii_case(b"true")
        })))
    }
}

/// The document states the header.
impl IntoParams for AcceptRedirect {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["true", "false"]))
            .build();
        vec![
            ParameterBuilder::new()
                .name("X-Signet-Accept-Redirect")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "`true`: the client accepts a 307 to a presigned URL of the object \
                     store (answered when the operator turned redirects on, with an S3 store)",
                ))
                .schema(Some(schema))
                .build(),
        ]
    }
}

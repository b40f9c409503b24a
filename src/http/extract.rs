//! Extractors: every input is parsed into a typed value here, and every rejection
//! comes out in the error envelope.

use std::collections::HashMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::AppState;
use super::error::ApiError;
use crate::auth::Principal;
use crate::error::Error;
use crate::names::{FilePath, ModelName, ModelRef, Namespace, VersionNumber};

/// JSON body; unknown fields are refused by the target types.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::invalid(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::invalid("the body is not valid JSON"))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::invalid(
                "expected a JSON body with Content-Type: application/json",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is too large",
            )),
            Err(_) => Err(ApiError::invalid("the body could not be read")),
        }
    }
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

/// The authenticated caller. A missing, malformed, unknown, expired or revoked
/// token is a 401: there is no anonymous access to `/v1`.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(Error::Unauthenticated)?;
        let p = state.access.authenticate(bearer.trim()).await?;
        crate::audit::note(|c| {
            c.principal = Some(p.name.clone());
            c.token_id = Some(p.token_id.to_string());
        });
        Ok(p)
    }
}

async fn raw_path<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, ApiError> {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|Path(m)| m)
        .map_err(|_| ApiError::invalid("invalid path"))
}

fn segment<'a>(m: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    m.get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::invalid("invalid path"))
}

/// `{ns}` in the path.
pub struct NsPath(pub Namespace);

impl<S: Send + Sync> FromRequestParts<S> for NsPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let m = raw_path(parts, state).await?;
        Ok(Self(Namespace::parse(segment(&m, "ns")?)?))
    }
}

/// `{ns}/{model}` in the path.
pub struct ModelPath(pub ModelRef);

fn model_of(m: &HashMap<String, String>) -> Result<ModelRef, ApiError> {
    let model = ModelRef {
        namespace: Namespace::parse(segment(m, "ns")?)?,
        name: ModelName::parse(segment(m, "model")?)?,
    };
    crate::audit::note(|c| c.model = Some(model.to_string()));
    Ok(model)
}

impl<S: Send + Sync> FromRequestParts<S> for ModelPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(model_of(&raw_path(parts, state).await?)?))
    }
}

/// `{ns}/{model}/versions/{v}` in the path.
pub struct VersionPath(pub ModelRef, pub VersionNumber);

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let m = raw_path(parts, state).await?;
        Ok(Self(
            model_of(&m)?,
            VersionNumber::parse(segment(&m, "v")?)?,
        ))
    }
}

/// `{ns}/{model}/aliases/{alias}` in the path.
pub struct AliasPath(pub ModelRef, pub ModelName);

impl<S: Send + Sync> FromRequestParts<S> for AliasPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let m = raw_path(parts, state).await?;
        // Alias names follow the same rule as model names.
        let alias = ModelName::parse(segment(&m, "alias")?)
            .map_err(|_| ApiError::invalid("alias must match ^[a-z0-9][a-z0-9._-]{0,62}$"))?;
        Ok(Self(model_of(&m)?, alias))
    }
}

/// `{ns}/{model}/versions/{v}/files/{path}` in the path.
pub struct FileParams(pub ModelRef, pub VersionNumber, pub FilePath);

impl<S: Send + Sync> FromRequestParts<S> for FileParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let m = raw_path(parts, state).await?;
        Ok(Self(
            model_of(&m)?,
            VersionNumber::parse(segment(&m, "v")?)?,
            FilePath::parse(segment(&m, "path")?)?,
        ))
    }
}

/// `?limit=&cursor=` of list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 1000, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=1000) => Ok(i64::from(n)),
            Some(_) => Err(ApiError::invalid("limit must be between 1 and 1000")),
        }
    }

    /// The decoded cursor, or "" for the first page.
    pub fn cursor(&self) -> Result<String, ApiError> {
        match &self.cursor {
            None => Ok(String::new()),
            Some(c) => URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid("invalid cursor")),
        }
    }
}

/// Encodes the key of the last item as the next page's cursor, when the page is full.
pub fn next_cursor(full: bool, last_key: Option<String>) -> Option<String> {
    if full {
        last_key.map(|k| URL_SAFE_NO_PAD.encode(k))
    } else {
        None
    }
}

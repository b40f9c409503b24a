//! Artifact bytes: streamed in, streamed out, hashed both ways.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::FileParams;
use super::views::FileView;
use crate::auth::{Action, Principal, Resource, authorize};
use crate::error::Error;
use crate::names::Sha256;
use crate::registry::RangeSpec;

const CHECKSUM: &str = "x-checksum-sha256";

/// Uploads (or replaces) a file of a draft version (publisher). The body is the raw
/// bytes; `X-Checksum-Sha256`, when given, must match them or nothing is kept.
#[utoipa::path(put, path = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}", tag = "files",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path),
        ("path" = String, Path, description = "Relative POSIX path; may contain `/`"),
        ("X-Checksum-Sha256" = Option<String>, Header, description = "Expected SHA-256, hex")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileView),
        (status = 400, body = ErrorBody, description = "`invalid_request` or `digest_mismatch`"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`version_sealed`"),
        (status = 413, body = ErrorBody)))]
pub async fn put_file(
    State(st): State<AppState>,
    p: Principal,
    FileParams(model, number, path): FileParams,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileView>), ApiError> {
    let permit = authorize(&p, Action::Publish, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    let limit = st.registry.max_file_size;
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > limit) {
        return Err(Error::TooLarge { limit }.into());
    }
    let declared = match headers.get(CHECKSUM) {
        None => None,
        Some(h) => Some(Sha256::parse(h.to_str().unwrap_or_default())?),
    };
    let f = st
        .registry
        .upload(&permit, &v, &path, body.into_data_stream(), declared)
        .await?;
    Ok((StatusCode::CREATED, Json(f.into())))
}

/// Removes a file from a draft version (publisher).
#[utoipa::path(delete, path = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}", tag = "files",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path), ("path" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_sealed`")))]
pub async fn delete_file(
    State(st): State<AppState>,
    p: Principal,
    FileParams(model, number, path): FileParams,
) -> Result<StatusCode, ApiError> {
    let permit = authorize(&p, Action::Publish, Resource::Namespace(&model.namespace))?;
    let v = st.registry.version(&model, number).await?;
    st.registry.delete_file(&permit, &v, &path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Downloads a file. The bytes are hashed on the way out; when they do not match
/// the recorded digest the response is aborted. Supports one `Range`.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}", tag = "files",
    params(("ns" = String, Path), ("model" = String, Path), ("v" = i64, Path), ("path" = String, Path),
        ("Range" = Option<String>, Header, description = "One range, `bytes=a-b`")),
    responses(
        (status = 200, description = "The bytes; `X-Checksum-Sha256` gives the file's digest",
            content_type = "application/octet-stream"),
        (status = 206, description = "A range of the bytes"),
        (status = 403, body = ErrorBody, description = "`forbidden`, `quarantined` or `version_not_verified`"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub async fn get_file(
    State(st): State<AppState>,
    p: Principal,
    FileParams(model, number, path): FileParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ns = Resource::Namespace(&model.namespace);
    let full_access = match authorize(&p, Action::DownloadUnverified, ns) {
        Ok(_) => true,
        Err(Error::Forbidden) => {
            authorize(&p, Action::DownloadVerified, ns)?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    let v = st.registry.version(&model, number).await?;
    let files = st.registry.store.files_of(v.id).await?;
    if !full_access {
        st.registry.check_deployable(&v, &files).await?;
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|h| h.to_str().ok())
        .and_then(RangeSpec::parse);
    let d = st.registry.open_file(files, &path, range).await?;
    crate::audit::note(|c| {
        c.detail.insert("bytes".into(), d.size.into());
        if let Some((r, _)) = &d.range {
            c.detail.insert("range_start".into(), r.start.into());
        }
    });
    let mut resp = Body::from_stream(d.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(d.size));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&d.sha256) {
        h.insert(CHECKSUM, v);
    }
    if let Some((r, total)) = d.range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start, r.end - 1, total))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(resp)
}

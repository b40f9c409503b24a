//! Artifact bytes: streamed in, streamed out, hashed both ways.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AcceptRedirect, CHECKSUM, RangeHeader, UploadHeaders};
use super::paths::{FileParams, NewFileParams};
use super::views::FileView;
use crate::auth::{Principal, Publish, authorize};
use crate::registry::Download;
use crate::trust::{DownloadPermit, Fetched};

/// Uploads (or replaces) a file of a draft version (publisher). The body is the raw
/// bytes; `X-Checksum-Sha256`, when given, must match them or nothing is kept.
#[utoipa::path(put, path = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}", tag = "files",
    params(NewFileParams, UploadHeaders),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileView),
        (status = 400, body = ErrorBody, description = "`invalid_request` or `digest_mismatch`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_sealed`, `conflict` (the path clashes with another) or `too_many_files`"),
        (status = 413, body = ErrorBody),
        (status = 507, body = ErrorBody, description = "`insufficient_storage`: the artifact storage is full; nothing was kept")))]
pub async fn put_file(
    State(st): State<AppState>,
    p: Principal,
    NewFileParams(model, number, path): NewFileParams,
    declared: UploadHeaders,
    body: Body,
) -> Result<(StatusCode, Json<FileView>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let (bytes, name) = (body.into_data_stream(), &model.name);
    let f = st
        .registry
        .upload(
            &permit,
            name,
            number,
            path.as_path(),
            declared.length,
            declared.sha256,
            bytes,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(f.into())))
}

/// Removes a file from a draft version (publisher).
#[utoipa::path(delete, path = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}", tag = "files",
    params(FileParams),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_sealed`")))]
pub async fn delete_file(
    State(st): State<AppState>,
    p: Principal,
    FileParams(model, number, path): FileParams,
) -> Result<StatusCode, ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    st.registry
        .delete_file(&permit, &model.name, number, &path)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Downloads a file. The bytes are hashed on the way out; when they do not match
/// the recorded digest the response is aborted. Supports one `Range`. A client
/// that checks the bytes itself may accept a redirect to the object store.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/files/{*path}", tag = "files",
    params(FileParams, AcceptRedirect,
        ("Range" = Option<String>, Header, description = "One range, `bytes=a-b`")),
    responses(
        (status = 200, description = "The bytes; `X-Checksum-Sha256` gives the file's digest",
            content_type = "application/octet-stream"),
        (status = 206, description = "A range of the bytes"),
        (status = 307, description = "The bytes at a presigned URL of the object store \
            (`Location`), for a client that accepts it; the download is logged and charged here"),
        (status = 403, body = ErrorBody, description = "`forbidden`, `quarantined` or `version_not_verified`"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub async fn get_file(
    State(st): State<AppState>,
    p: Principal,
    FileParams(model, number, path): FileParams,
    RangeHeader(range): RangeHeader,
    AcceptRedirect(redirect): AcceptRedirect,
) -> Result<Response, ApiError> {
    let permit = DownloadPermit::authorize(&p, &model.namespace)?;
    let fetched = st
        .trust
        .fetch(&p, &permit, &model.name, number, &path, range, redirect)
        .await?;
    Ok(match fetched {
        Fetched::Bytes(d) => answer(d),
        Fetched::Redirect(p) => redirect_to(&p.url),
    })
}

/// `307` to `url`.
pub(super) fn redirect_to(url: &str) -> Response {
    let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The bytes of a download with the headers that describe them.
pub(super) fn answer(d: Download) -> Response {
    let body = d
        .body
        .inspect_ok(|chunk| crate::metrics::downloaded(chunk.len() as u64));
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(d.size));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&d.sha256.to_hex()) {
        h.insert(CHECKSUM, v);
    }
    if let Some((r, total)) = d.range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start, r.end - 1, total))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    resp
}

//! Resumable uploads: a large file sent in parts over several requests, each
//! starting at the offset the session has committed.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, UploadHeaders, UploadOffset};
use super::paths::{UploadPath, VersionPath};
use super::views::{FileView, UploadView};
use super::{AppState, UPLOAD_OFFSET};
use crate::api::{CompleteUpload, StartUpload};
use crate::auth::{Principal, Publish, authorize};
use crate::registry::AppendAt;

/// The session's offset in `Upload-Offset`, beside the body.
fn with_offset(view: UploadView) -> (HeaderMap, Json<UploadView>) {
    let mut h = HeaderMap::new();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(view.offset));
    (h, Json(view))
}

/// Starts a resumable upload of one file into a draft version (publisher).
/// Nothing is visible in the version until the upload completes.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/uploads", tag = "files",
    params(VersionPath),
    request_body = StartUpload,
    responses((status = 201, body = UploadView, description = "`Location` names the upload"),
        (status = 400, body = ErrorBody, description = "`invalid_request`, also for a size over the largest file accepted"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_sealed` or `too_many_uploads`")))]
pub async fn start(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
    ApiJson(req): ApiJson<StartUpload>,
) -> Result<(StatusCode, HeaderMap, Json<UploadView>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let u = st
        .registry
        .start_upload(&permit, &model.name, number, req.path.as_path(), req.size)
        .await?;
    let location = format!(
        "/v1/models/{}/{}/versions/{}/uploads/{}",
        model.namespace, model.name, number, u.id
    );
    let (mut h, body) = with_offset(u.into());
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, h, body))
}

/// The upload as committed: where the next append starts (publisher).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}", tag = "files",
    params(UploadPath),
    responses((status = 200, body = UploadView), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(st): State<AppState>,
    p: Principal,
    UploadPath(model, number, id): UploadPath,
) -> Result<(HeaderMap, Json<UploadView>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let u = st
        .registry
        .upload_status(&permit, &model.name, number, id)
        .await?;
    Ok(with_offset(u.into()))
}

/// Appends bytes at `Upload-Offset`, which must be the committed offset
/// (publisher). Each whole part that arrives is committed, even when the
/// request breaks off later; the answer gives the offset reached.
#[utoipa::path(patch, path = "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}", tag = "files",
    params(UploadPath,
        ("Upload-Offset" = u64, Header, description = "Where these bytes start in the file")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = UploadView),
        (status = 400, body = ErrorBody, description = "`invalid_request`: no `Upload-Offset`, or bytes past the declared size"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`upload_offset_mismatch` (`Upload-Offset` gives the committed offset), `version_sealed` or `conflict` (already complete)"),
        (status = 507, body = ErrorBody, description = "`insufficient_storage`: the artifact storage is full; what was committed stays")))]
pub async fn append(
    State(st): State<AppState>,
    p: Principal,
    UploadPath(model, number, id): UploadPath,
    UploadOffset(offset): UploadOffset,
    declared: UploadHeaders,
    body: Body,
) -> Result<(HeaderMap, Json<UploadView>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let u = st
        .registry
        .append_upload(
            &permit,
            AppendAt {
                model: &model.name,
                version: number,
                upload: id,
                offset,
                declared_len: declared.length,
            },
            body.into_data_stream(),
        )
        .await?;
    Ok(with_offset(u.into()))
}

/// Completes an upload whose bytes have all arrived: they must have this
/// SHA-256, else the upload is discarded (publisher). The file then appears in
/// the version. Completing again answers the same file.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}/complete", tag = "files",
    params(UploadPath),
    request_body = CompleteUpload,
    responses((status = 201, body = FileView),
        (status = 400, body = ErrorBody, description = "`invalid_request` or `digest_mismatch`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`upload_incomplete`, `version_sealed`, `conflict` or `too_many_files`"),
        (status = 422, body = ErrorBody, description = "`invalid_safetensors`")))]
pub async fn complete(
    State(st): State<AppState>,
    p: Principal,
    UploadPath(model, number, id): UploadPath,
    ApiJson(req): ApiJson<CompleteUpload>,
) -> Result<(StatusCode, Json<FileView>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let f = st
        .registry
        .complete_upload(&permit, &model.name, number, id, req.sha256)
        .await?;
    Ok((StatusCode::CREATED, Json(f.into())))
}

/// Abandons an upload; its parts are discarded (publisher).
#[utoipa::path(delete, path = "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}", tag = "files",
    params(UploadPath),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn abort(
    State(st): State<AppState>,
    p: Principal,
    UploadPath(model, number, id): UploadPath,
) -> Result<StatusCode, ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    st.registry
        .abort_upload(&permit, &model.name, number, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

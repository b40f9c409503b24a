//! Signatures on versions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::value::RawValue;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonObjectBytes;
use super::paths::{SignaturePath, VersionPath};
use crate::api::{SignatureAccepted, SignatureList, StoredSignature};
use crate::auth::{Principal, Publish, Read, authorize};
use crate::error::Error;
use crate::kinds::SignatureState;
use crate::signing::bundle::BUNDLE_MEDIA_TYPE;
use crate::signing::verify::VerifiedSignature;
use crate::trust::SignatureRecord;

/// Largest signature document accepted.
const MAX_SIGNATURE_BYTES: usize = 1 << 20;

impl From<VerifiedSignature> for SignatureAccepted {
    fn from(ok: VerifiedSignature) -> Self {
        Self {
            keyid: ok.keyid().clone(),
            key_name: ok.key_name().to_owned(),
            status: SignatureState::Verified,
            content_only: ok.content_only(),
        }
    }
}

/// Adds a signature: a DSSE envelope over the version's statement, or a Sigstore
/// bundle v0.3 carrying one (publisher). Verified on arrival and kept verbatim.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/signatures", tag = "signing", operation_id = "add_signature",
    params(VersionPath),
    request_body(content = Object, description = "DSSE envelope or Sigstore bundle v0.3"),
    responses((status = 201, body = SignatureAccepted),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`, or the key already signed"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "`signature_invalid`, `untrusted_key`, `key_revoked`, `statement_mismatch` or `unsupported_algorithm`")))]
pub async fn add(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
    JsonObjectBytes(body): JsonObjectBytes<MAX_SIGNATURE_BYTES>,
) -> Result<(StatusCode, Json<SignatureAccepted>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let ok = st
        .trust
        .add_signature(&permit, &model.name, number, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(ok.into())))
}

impl TryFrom<SignatureRecord> for StoredSignature {
    type Error = Error;

    fn try_from(s: SignatureRecord) -> Result<Self, Error> {
        Ok(Self {
            keyid: s.keyid.to_string(),
            received_at: s.received_at,
            envelope: RawValue::from_string(s.envelope).map_err(Error::internal)?,
        })
    }
}

/// The stored signature documents, verbatim, for client-side verification.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/signatures", tag = "signing", operation_id = "list_signatures",
    params(VersionPath),
    responses((status = 200, body = SignatureList), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<SignatureList>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let stored = st.trust.signatures(&permit, &model.name, number).await?;
    let items = stored
        .into_iter()
        .map(StoredSignature::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(SignatureList { items }))
}

/// One stored signature as a Sigstore bundle v0.3, as OpenSSF Model Signing's
/// verifier reads it: `model_signing verify key --signature model.sig
/// --public_key KEY.pub DIR` checks a directory pulled from Signet against it.
/// The signature of the key asked for comes first, and the bundle names that
/// key by its hint (the keyid).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/signatures/{keyid}/bundle", tag = "signing",
    operation_id = "signature_bundle",
    params(SignaturePath),
    responses((status = 200, description = "The bundle", body = Object,
            content_type = "application/vnd.dev.sigstore.bundle.v0.3+json"),
        (status = 404, body = ErrorBody)))]
pub async fn bundle(
    State(st): State<AppState>,
    p: Principal,
    SignaturePath(model, number, keyid): SignaturePath,
) -> Result<axum::response::Response, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let b = st
        .trust
        .bundle(&permit, &model.name, number, &keyid)
        .await?;
    Ok(bundle_response(b))
}

/// A Sigstore bundle with its media type.
pub(super) fn bundle_response(b: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = Json(b).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(BUNDLE_MEDIA_TYPE),
    );
    resp
}

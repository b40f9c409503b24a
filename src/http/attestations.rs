//! Attestations on versions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, JsonObjectBytes};
use super::paths::{AttestationPath, VersionPath};
use crate::api::{AttestationAccepted, AttestationList, AttestationQuery, StoredAttestation};
use crate::auth::{Principal, Publish, Read, authorize};
use crate::error::Error;
use crate::trust::AttestationRecord;
use crate::trust::KeptAttestation;

/// Largest attestation document accepted.
const MAX_ATTESTATION_BYTES: usize = 1 << 20;

impl From<KeptAttestation> for AttestationAccepted {
    fn from(k: KeptAttestation) -> Self {
        Self {
            id: k.record.id,
            predicate_type: k.record.predicate_type,
            keyid: k.record.keyid,
            key_name: k.key_name,
            subjects: k.covers.as_str().to_owned(),
        }
    }
}

impl TryFrom<AttestationRecord> for StoredAttestation {
    type Error = Error;

    fn try_from(a: AttestationRecord) -> Result<Self, Error> {
        Ok(Self {
            id: a.id,
            predicate_type: a.predicate_type,
            keyid: a.keyid.to_string(),
            received_at: a.received_at,
            received_by: a.received_by.to_string(),
            envelope: RawValue::from_string(a.envelope).map_err(Error::internal)?,
        })
    }
}

/// Adds an attestation (publisher): a DSSE envelope of an in-toto Statement v1
/// of any predicate type, or a Sigstore bundle v0.3 carrying one, signed by a
/// key trusted for the namespace, whose subjects are exactly the version's
/// files (each by path and SHA-256) or its root digest. Verified on arrival
/// and kept verbatim.
#[utoipa::path(post, path = "/v1/models/{ns}/{model}/versions/{v}/attestations", tag = "signing", operation_id = "add_attestation",
    params(VersionPath),
    request_body(content = Object, description = "DSSE envelope or Sigstore bundle v0.3 of an in-toto statement"),
    responses((status = 201, body = AttestationAccepted),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`, the same document is kept, or the version holds 256"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "`invalid_attestation` (the statement or its subjects), `signature_invalid`, `untrusted_key`, `key_revoked`, `unsupported_algorithm`, `unsupported_bundle` or `key_hint_mismatch`")))]
pub async fn add(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
    JsonObjectBytes(body): JsonObjectBytes<MAX_ATTESTATION_BYTES>,
) -> Result<(StatusCode, Json<AttestationAccepted>), ApiError> {
    let permit = authorize::<Publish>(&p, &model.namespace)?;
    let kept = st
        .trust
        .add_attestation(&permit, &model.name, number, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(kept.into())))
}

/// A version's attestations, oldest first, verbatim (of one predicate type
/// with `predicate_type`).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/attestations", tag = "signing", operation_id = "list_attestations",
    params(VersionPath, AttestationQuery),
    responses((status = 200, body = AttestationList), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
    ApiQuery(q): ApiQuery<AttestationQuery>,
) -> Result<Json<AttestationList>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let stored = st
        .trust
        .attestations(&permit, &model.name, number, q.predicate_type.as_deref())
        .await?;
    let items = stored
        .into_iter()
        .map(StoredAttestation::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(AttestationList { items }))
}

/// One attestation, verbatim.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}", tag = "signing", operation_id = "get_attestation",
    params(AttestationPath),
    responses((status = 200, body = StoredAttestation), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    p: Principal,
    AttestationPath(model, number, id): AttestationPath,
) -> Result<Json<StoredAttestation>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let a = st
        .trust
        .attestation(&permit, &model.name, number, id)
        .await?;
    Ok(Json(a.try_into()?))
}

/// One attestation as a Sigstore bundle v0.3, naming the key that signed it
/// by its hint (`cosign verify-blob-attestation`-style verifiers read it).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}/bundle", tag = "signing",
    operation_id = "attestation_bundle",
    params(AttestationPath),
    responses((status = 200, description = "The bundle", body = Object,
            content_type = "application/vnd.dev.sigstore.bundle.v0.3+json"),
        (status = 404, body = ErrorBody)))]
pub async fn bundle(
    State(st): State<AppState>,
    p: Principal,
    AttestationPath(model, number, id): AttestationPath,
) -> Result<Response, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let b = st
        .trust
        .attestation_bundle(&permit, &model.name, number, id)
        .await?;
    Ok(super::signatures::bundle_response(b))
}

/// The version's AI bill of materials (readers): a CycloneDX 1.6 ML-BOM of
/// the model with its files' hashes, the datasets of its lineage as data
/// components, its environment (image, Python, frameworks, hardware) and
/// parents, and its signatures and attestations as external references.
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/bom", tag = "signing", operation_id = "version_bom",
    params(VersionPath),
    responses((status = 200, description = "The BOM", body = Object,
            content_type = "application/vnd.cyclonedx+json"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`")))]
pub async fn bom(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Response, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    let bom = st.trust.bom(&permit, &model.name, number).await?;
    let mut resp = Json(bom).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/vnd.cyclonedx+json; version=1.6"),
    );
    Ok(resp)
}

/// The version's SLSA provenance v1 (readers), issued by the registry from
/// what it recorded: its lineage and, for a trusted publisher's job, the CI
/// identity. An in-toto statement about the version's files in a DSSE
/// envelope signed with the registry's key (`GET /v1/registry/key`).
#[utoipa::path(get, path = "/v1/models/{ns}/{model}/versions/{v}/provenance", tag = "signing", operation_id = "version_provenance",
    params(VersionPath),
    responses((status = 200, description = "A DSSE envelope of the provenance statement", body = Object),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`version_not_sealed`"),
        (status = 503, body = ErrorBody, description = "`records_unavailable`: no registry key (PostgreSQL without `SIGNET_REGISTRY_KEY_FILE`)")))]
pub async fn provenance(
    State(st): State<AppState>,
    p: Principal,
    VersionPath(model, number): VersionPath,
) -> Result<Json<serde_json::Value>, ApiError> {
    let permit = authorize::<Read>(&p, &model.namespace)?;
    Ok(Json(
        st.trust.provenance(&permit, &model.name, number).await?,
    ))
}

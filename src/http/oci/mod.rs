//! The OCI face (`/v2`): the pull side of the OCI Distribution API, read-only,
//! for the registry clients deployers already run (skopeo, ORAS, KitOps,
//! containerd). Handlers are handlers as everywhere: extract, authorize
//! ([`DownloadPermit::authorize_repository`]), call `Distribution` once, shape
//! the answer (headers, the OCI error envelope).

mod error;
mod token;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::auth::{Principal, Secret};
use crate::names::ModelRef;
use crate::oci::{Blob, Digest, Names, Object, OciError, Reference};
use crate::registry::RangeSpec;
use crate::trust::DownloadPermit;
use error::Context;
pub use error::OciFailure;

/// The header a manifest's or blob's digest is stated in.
const DIGEST: &str = "docker-content-digest";
/// Most names a tags or catalog page holds.
const MAX_PAGE: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/", get(ping))
        .route("/v2/token", get(token::issue))
        .route("/v2/_catalog", get(catalog))
        .route("/v2/{ns}/{model}/manifests/{reference}", get(manifest))
        .route("/v2/{ns}/{model}/blobs/{digest}", get(blob).head(blob_head))
        .route("/v2/{ns}/{model}/tags/list", get(tags))
        .route("/v2/{ns}/{model}/referrers/{digest}", get(referrers))
}

/// Whether a path is the OCI face's.
pub fn is_oci(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// The answer to a `/v2` request no route takes: a push (read-only here), or
/// a repository name Signet never has (more than `namespace/model`).
pub fn unrouted(method: &axum::http::Method) -> Response {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        OciFailure::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "no such repository: Signet's repositories are namespace/model",
        )
        .into_response()
    } else {
        OciFailure::read_only().into_response()
    }
}

/// An authenticated OCI request, with where it was going.
pub struct Oci {
    p: Principal,
    ctx: Context,
}

impl Oci {
    /// A failure of this request, worded for where it was going.
    fn fail(&self, e: impl Into<OciError>) -> OciFailure {
        OciFailure::of(e.into(), &self.ctx)
    }

    /// Leave to pull from the path's repository.
    fn permit(&self) -> Result<(ModelRef, DownloadPermit), OciFailure> {
        let repo = self.ctx.repository.as_deref().unwrap_or_default();
        let model = ModelRef::parse(repo).map_err(|_| {
            OciFailure::invalid(
                "NAME_INVALID",
                format!("{repo:?} is not a repository name (namespace/model)"),
            )
        })?;
        let permit =
            DownloadPermit::authorize_repository(&self.p, &model).map_err(|e| self.fail(e))?;
        Ok((model, permit))
    }
}

/// Where a request was going: the realm of its challenges (the configured
/// public URL, or the request's own host), its repository and target.
async fn context_of(parts: &mut Parts, st: &AppState) -> Context {
    let base = st.public_url.clone().unwrap_or_else(|| {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']')
                    })
            })
            .unwrap_or("localhost");
        let scheme = if st.secure_cookies { "https" } else { "http" };
        format!("{scheme}://{host}")
    });
    let params = RawPathParams::from_request_parts(parts, st).await.ok();
    let get = |k: &str| {
        params
            .as_ref()
            .and_then(|p| p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_owned()))
    };
    let repository = get("ns").zip(get("model")).map(|(n, m)| format!("{n}/{m}"));
    Context {
        realm: format!("{base}/v2/token"),
        repository,
        target: get("reference").or_else(|| get("digest")),
    }
}

/// The secret a request presents: `Bearer` (an API or a registry token), or
/// the password of `Basic` (the user name is not read).
fn presented(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(t) = value.strip_prefix("Bearer ") {
        return Some(t.trim().to_owned());
    }
    let basic = value.strip_prefix("Basic ")?;
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, pass)| pass.to_owned())
}

impl FromRequestParts<AppState> for Oci {
    type Rejection = OciFailure;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, OciFailure> {
        let ctx = context_of(parts, st).await;
        let secret = presented(&parts.headers);
        let (client, trail) = super::extract::origin(parts);
        let found = match secret.as_deref() {
            Some(s) if Secret::is_registry(s) => {
                st.access.authenticate_registry(s, client, trail).await
            }
            s => st.access.authenticate(s, client, trail).await,
        };
        match found {
            Ok(p) => Ok(Self { p, ctx }),
            Err(e) => Err(OciFailure::of(e.into(), &ctx)),
        }
    }
}

/// `GET /v2/`: the API is here, and the caller is authenticated.
async fn ping(_caller: Oci) -> Response {
    axum::Json(serde_json::json!({})).into_response()
}

/// A query string's pairs, in order.
fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, OciFailure> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| OciFailure::invalid("UNSUPPORTED", "invalid query string"))
}

/// `n` and `last` of a tags or catalog page.
fn paging(query: Option<&str>) -> Result<(usize, Option<String>), OciFailure> {
    let pairs = query_pairs(query)?;
    let (mut n, mut last) = (MAX_PAGE, None);
    for (k, v) in pairs {
        match k.as_str() {
            "n" => {
                n = v
                    .parse::<usize>()
                    .map_err(|_| OciFailure::invalid("UNSUPPORTED", "n must be a whole number"))?;
                n = n.min(MAX_PAGE);
            }
            "last" => last = Some(v),
            _ => {}
        }
    }
    Ok((n, last))
}

/// A page of names with the `Link` to the next one.
fn names_page(path: &str, key: &str, name: Option<&str>, page: Names, n: usize) -> Response {
    let mut body = serde_json::Map::new();
    if let Some(name) = name {
        body.insert("name".into(), name.into());
    }
    let next = page.names.last().cloned();
    body.insert(key.into(), page.names.into());
    let mut resp = axum::Json(body).into_response();
    if page.more
        && let Some(last) = next
    {
        let q =
            serde_urlencoded::to_string([("n", n.to_string()), ("last", last)]).unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&format!("<{path}?{q}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

/// `GET /v2/_catalog`: the repositories the caller may see.
async fn catalog(
    State(st): State<AppState>,
    caller: Oci,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, OciFailure> {
    let (n, last) = paging(q.as_deref())?;
    if n == 0 {
        return Ok(names_page("/v2/_catalog", "repositories", None, empty(), n));
    }
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    let page = st
        .distribution
        .catalog(&caller.p, n32, last.as_deref())
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(names_page("/v2/_catalog", "repositories", None, page, n))
}

fn empty() -> Names {
    Names {
        names: Vec::new(),
        more: false,
    }
}

/// `GET /v2/{ns}/{model}/tags/list`: the tags the caller may pull.
async fn tags(
    State(st): State<AppState>,
    caller: Oci,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, OciFailure> {
    let (model, permit) = caller.permit()?;
    let (n, last) = paging(q.as_deref())?;
    let page = st
        .distribution
        .tags(&permit, &model.name, n, last.as_deref())
        .await
        .map_err(|e| caller.fail(e))?;
    let path = format!("/v2/{model}/tags/list");
    Ok(names_page(&path, "tags", Some(&model.to_string()), page, n))
}

/// `GET|HEAD /v2/{ns}/{model}/manifests/{reference}`: a version's ModelPack
/// manifest by tag or digest, or a signature's referrer manifest by digest.
async fn manifest(State(st): State<AppState>, caller: Oci) -> Result<Response, OciFailure> {
    let (model, permit) = caller.permit()?;
    let target = caller.ctx.target.as_deref().unwrap_or_default();
    let reference = Reference::parse(target).map_err(|e| {
        let code = if target.contains(':') {
            "DIGEST_INVALID"
        } else {
            "TAG_INVALID"
        };
        OciFailure::invalid(code, e.to_string())
    })?;
    let m = st
        .distribution
        .manifest(&permit, &model.name, &reference)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(object_answer(m))
}

/// The digest of the path, or a 400.
fn digest_of(caller: &Oci) -> Result<Digest, OciFailure> {
    let target = caller.ctx.target.as_deref().unwrap_or_default();
    Digest::parse(target).map_err(|e| OciFailure::invalid("DIGEST_INVALID", e.to_string()))
}

/// `GET /v2/{ns}/{model}/referrers/{digest}`: the signatures of a manifest,
/// as an image index (`?artifactType=` filters them).
async fn referrers(
    State(st): State<AppState>,
    caller: Oci,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, OciFailure> {
    let (model, permit) = caller.permit()?;
    let subject = digest_of(&caller)?;
    let pairs = query_pairs(q.as_deref())?;
    let artifact_type = pairs
        .iter()
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.as_str());
    let index = st
        .distribution
        .referrers(&permit, &model.name, &subject, artifact_type)
        .await
        .map_err(|e| caller.fail(e))?;
    let mut resp = object_answer(index);
    if artifact_type.is_some() {
        resp.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}

/// `GET /v2/{ns}/{model}/blobs/{digest}`: a layer (a file's bytes, checked
/// on the way out, charged to the caller's quota), a config or a bundle.
/// Supports one `Range`.
async fn blob(
    State(st): State<AppState>,
    caller: Oci,
    headers: HeaderMap,
) -> Result<Response, OciFailure> {
    let range = headers
        .get(header::RANGE)
        .and_then(|h| h.to_str().ok())
        .and_then(RangeSpec::parse_strict);
    blob_answer(st, caller, range, false).await
}

/// `HEAD /v2/{ns}/{model}/blobs/{digest}`: whether the caller may have it, and
/// its size; nothing read, nothing charged.
async fn blob_head(State(st): State<AppState>, caller: Oci) -> Result<Response, OciFailure> {
    blob_answer(st, caller, None, true).await
}

async fn blob_answer(
    st: AppState,
    caller: Oci,
    range: Option<RangeSpec>,
    head: bool,
) -> Result<Response, OciFailure> {
    let (model, permit) = caller.permit()?;
    let digest = digest_of(&caller)?;
    let found = st
        .distribution
        .blob(&caller.p, &permit, &model.name, &digest, range, head)
        .await
        .map_err(|e| caller.fail(e))?;
    let mut resp = match found {
        Blob::Inline(o, None) => object_answer(o),
        Blob::Inline(o, Some((r, total))) => {
            let bytes = o.bytes.slice(r.start as usize..r.end as usize);
            let mut resp = object_answer(Object { bytes, ..o });
            partial(&mut resp, &r, total);
            resp
        }
        Blob::File(d) => super::files::answer(d),
        Blob::Redirect(url) => super::files::redirect_to(&url),
        Blob::FileHead { size } => {
            let mut resp = Body::empty().into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            resp
        }
    };
    if let Some(sha) = digest.sha256()
        && let Ok(v) = HeaderValue::from_str(&Digest::of(sha))
    {
        resp.headers_mut().insert(DIGEST, v);
    }
    Ok(resp)
}

/// Marks an answer as the range `r` of `total` bytes.
fn partial(resp: &mut Response, r: &std::ops::Range<u64>, total: u64) {
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(r.end - r.start));
    if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start, r.end - 1, total)) {
        h.insert(header::CONTENT_RANGE, v);
    }
}

/// Content made here, with its type, length and digest.
fn object_answer(o: Object) -> Response {
    let len = o.bytes.len();
    let digest = format!("sha256:{}", o.digest.to_hex());
    let mut resp = Body::from(o.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(o.media_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&digest) {
        h.insert(DIGEST, v.clone());
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&format!("\"{digest}\"")).unwrap_or(v),
        );
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

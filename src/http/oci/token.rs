//! The token endpoint (`GET /v2/token`) of the Docker token protocol registry
//! clients speak: HTTP Basic with a Signet API token as the password (or that
//! token as a bearer) in, a short-lived registry token scoped to the
//! repositories asked for, pull only, out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::{Context, OciFailure, SERVICE};
use super::presented;
use crate::auth::{MAX_REPOSITORIES, Secret};
use crate::names::ModelRef;
use crate::oci::OciError;

/// The repositories a request's `scope` parameters ask to pull from. Each
/// parameter holds scopes separated by spaces, `repository:ns/model:actions`;
/// a scope without `pull` (or `*`) and one of another resource type are left
/// out; a repository that is not `namespace/model` is refused.
fn requested(pairs: &[(String, String)]) -> Result<Vec<ModelRef>, OciFailure> {
    let mut out = Vec::new();
    let scopes = pairs.iter().filter(|(k, _)| k == "scope");
    for scope in scopes.flat_map(|(_, v)| v.split_whitespace()) {
        let mut parts = scope.splitn(3, ':');
        let (kind, name, actions) = (parts.next(), parts.next(), parts.next());
        let (Some("repository"), Some(name), Some(actions)) = (kind, name, actions) else {
            continue;
        };
        if !actions.split(',').any(|a| a == "pull" || a == "*") {
            continue;
        }
        let model = ModelRef::parse(name).map_err(|_| {
            OciFailure::invalid(
                "NAME_INVALID",
                format!("{name:?} in scope is not a repository name (namespace/model)"),
            )
        })?;
        if !out.contains(&model) {
            out.push(model);
        }
    }
    if out.len() > MAX_REPOSITORIES {
        return Err(OciFailure::invalid(
            "UNSUPPORTED",
            format!("a token covers at most {MAX_REPOSITORIES} repositories"),
        ));
    }
    Ok(out)
}

/// `GET /v2/token?service=signet&scope=repository:ns/model:pull`: a registry
/// token for those repositories. Whether a repository exists or may be seen
/// is not asked here (every request with the token is authorized as it
/// comes), so a hidden repository and an absent one get the same answer.
pub async fn issue(
    State(st): State<crate::http::AppState>,
    req: axum::extract::Request,
) -> Result<Response, OciFailure> {
    let (mut parts, _) = req.into_parts();
    let ctx = Context {
        repository: None,
        ..super::context_of(&mut parts, &st).await
    };
    let pairs = super::query_pairs(parts.uri.query())?;
    if let Some((_, s)) = pairs.iter().find(|(k, _)| k == "service")
        && s != SERVICE
    {
        return Err(OciFailure::invalid(
            "UNSUPPORTED",
            format!("this token endpoint serves service {SERVICE:?}"),
        ));
    }
    let repositories = requested(&pairs)?;
    let secret = presented(&parts.headers).filter(|s| !Secret::is_registry(s));
    let (client, trail) = crate::http::extract::origin(&parts);
    let fail = |e| OciFailure::of(OciError::from(e), &ctx);
    let p = st
        .access
        .authenticate(secret.as_deref(), client, trail)
        .await
        .map_err(fail)?;
    let t = st
        .access
        .mint_registry_token(&p, repositories)
        .await
        .map_err(fail)?;
    let secret = t.secret.expose();
    let body = serde_json::json!({
        "token": secret,
        "access_token": secret,
        "expires_in": t.expires_in,
        "issued_at": t.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

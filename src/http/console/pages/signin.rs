//! Signing in and out: the token exchanged for a console session.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::super::AppState;
use super::super::super::extract::ApiQuery;
use super::super::{COOKIE, Ui, UiError, Viewer, bare_page};
use crate::auth::{Credential, MintedToken};
use crate::error::Error;
use crate::trail::Trail;

/// A page path to return to after sign-in: only the console's own pages.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if super::super::is_page(n) && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/ui".to_owned(),
    }
}

pub fn sign_in_page(next: &str, failed: Option<&str>) -> Markup {
    let next = safe_next(Some(next));
    bare_page(
        "Sign in",
        html! {
            section.signin {
                h1 { "Sign in to Signet" }
                p { "Paste an API token once. It is exchanged for a session of this browser, "
                    "which ends when you sign out or after a few hours; the token is not kept here." }
                @if let Some(f) = failed { p.error role="alert" { (f) } }
                form method="post" action="/ui/login" {
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" required
                        placeholder="sgn_…";
                    input type="hidden" name="next" value=(next);
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(Ui(ApiQuery(q)): Ui<ApiQuery<NextQuery>>) -> Html<String> {
    Html(sign_in_page(q.next.as_deref().unwrap_or("/ui"), None).into_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Where a request comes from, for authentication and its audit trail.
pub struct Caller {
    pub(in crate::http::console) client: Option<std::net::IpAddr>,
    pub(in crate::http::console) trail: Trail,
}

impl Caller {
    pub(in crate::http::console) fn of(parts: &Parts) -> Self {
        Caller {
            client: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
            trail: parts.extensions.get::<Trail>().cloned().unwrap_or_default(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller::of(parts))
    }
}

pub(super) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Exchanges the API token of the form for a console session.
pub async fn login(State(st): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        let why = "the sign-in form was not understood";
        return UiError::new(StatusCode::BAD_REQUEST, why).into_response();
    };
    let next = safe_next(form.next.as_deref());
    match sign_in(&st, caller, form.token.trim()).await {
        Ok(session) => with_cookie(see_other(&next), &session, st.secure_cookies),
        Err(Error::Unauthenticated | Error::TokenRefused) => {
            let why = "That token was not accepted: it is unknown, expired or revoked.";
            let page = sign_in_page(&next, Some(why));
            super::super::html_answer(StatusCode::UNAUTHORIZED, page)
        }
        Err(e) => UiError::from(e).into_response(),
    }
}

/// Checks the token given and opens a console session of its principal.
async fn sign_in(st: &AppState, caller: Caller, token: &str) -> Result<MintedToken, Error> {
    let trail = caller.trail.clone();
    let p = st
        .access
        .authenticate_as(Credential::Bearer, Some(token), caller.client, caller.trail)
        .await?;
    trail.note(|c| c.success_status = StatusCode::SEE_OTHER.as_u16());
    st.access.open_session(&p).await
}

/// The answer, setting the session's cookie (only for `/ui`, never to
/// scripts, never sent cross-site; `Secure` over TLS).
fn with_cookie(mut resp: Response, session: &MintedToken, secure: bool) -> Response {
    let max_age = session
        .token
        .expires_at
        .map_or(0, |t| (t - Utc::now()).num_seconds().max(0));
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        session.secret.expose(),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Ends the session: its token is revoked, the cookie cleared.
pub async fn logout(State(st): State<AppState>, Viewer(p): Viewer) -> Result<Response, UiError> {
    st.access.close_session(&p).await?;
    let mut resp = see_other("/ui/login");
    let cleared = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&cleared) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

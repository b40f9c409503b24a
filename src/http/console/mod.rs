//! The web console (`/ui`): server-rendered, read-only pages for auditors,
//! approvers and operators, served by the same binary with its assets embedded.
//!
//! Dependency rule: as every handler of `http/`, a page extracts, authorizes
//! through `auth`, calls the domain and shapes the answer (here as HTML, through
//! `maud`, which escapes every value it writes). Sign-in exchanges an API token
//! for a console session (a short-lived token of its own kind, `Access::open_session`)
//! held in an `HttpOnly`, `SameSite=Strict` cookie; every page goes through the
//! same authorization and the same access log as the API.
//!
//! Safety: no script at all; a Content-Security-Policy that allows only this
//! origin's stylesheet and forms, `frame-ancestors 'none'`; a token never in a
//! URL (sign-in is a POST form); a cross-site POST is refused.

mod graph;
mod pages;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use super::AppState;
use super::error::ApiError;
use crate::auth::{Credential, Principal};

/// The session cookie's name.
const COOKIE: &str = "signet_session";

/// The console's routes (all under `/ui`, and `/`, which leads there).
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/ui") }))
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/login", get(pages::login_form).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/assets/console.css", get(stylesheet))
        .route("/ui/namespaces/{ns}", get(pages::namespace))
        .route("/ui/models/{ns}/{model}", get(pages::model))
        .route("/ui/models/{ns}/{model}/versions/{v}", get(pages::version))
        .route(
            "/ui/models/{ns}/{model}/versions/{v}/lineage",
            get(pages::lineage),
        )
        .route("/ui/audit", get(pages::audit))
        .route("/ui/audit/export", get(pages::audit_export))
        .route("/ui/audit/verify", get(pages::audit_verify))
        .route("/ui/keys", get(pages::keys))
        .route("/ui/quarantines", get(pages::quarantines))
        .route("/ui/search", get(pages::search))
        .route("/ui/{*rest}", axum::routing::any(pages::not_found))
        .layer(axum::middleware::from_fn(guard))
}

/// Whether a path is one of the console's pages (audited like the API; its
/// stylesheet is not).
pub fn is_page(path: &str) -> bool {
    (path == "/ui" || path.starts_with("/ui/")) && !path.starts_with("/ui/assets/")
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// Refuses a POST sent from another site (sign-in and sign-out are the only
/// ones), then gives every answer the console's security headers.
async fn guard(req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::POST && cross_site(req.headers()) {
        return UiError::new(StatusCode::FORBIDDEN, "a form of another site").into_response();
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (k, v) in fixed {
        h.insert(k, HeaderValue::from_static(v));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A request a browser says came from another site: by `Sec-Fetch-Site`, or
/// where a browser does not send it, by an `Origin` that is not the host the
/// request was sent to. A request with neither (curl) is no browser's.
fn cross_site(h: &HeaderMap) -> bool {
    let text = |k: header::HeaderName| h.get(k).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return site != "same-origin" && site != "none";
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => false,
        (Some(origin), host) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            bare.is_none() || bare != host
        }
    }
}

/// The signed-in viewer of a page: the principal of the session cookie. A
/// missing, unknown, expired or revoked session is answered with the sign-in
/// form (401), which brings the viewer back to the page afterwards.
pub struct Viewer(pub Principal);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, UiError> {
        let secret = session_cookie(&parts.headers);
        let caller = pages::Caller::of(parts);
        st.access
            .authenticate_as(
                Credential::ConsoleSession,
                secret,
                caller.client,
                caller.trail,
            )
            .await
            .map(Viewer)
            .map_err(|e| match e {
                crate::error::Error::Unauthenticated | crate::error::Error::TokenRefused => {
                    UiError::SignIn {
                        next: parts.uri.path().to_owned(),
                    }
                }
                e => UiError::from(ApiError::from(e)),
            })
    }
}

fn session_cookie(h: &HeaderMap) -> Option<&str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// Any extractor of `http/` whose rejection becomes the console's error page.
pub struct Ui<T>(pub T);

impl<T> FromRequestParts<AppState> for Ui<T>
where
    T: FromRequestParts<AppState, Rejection = ApiError>,
{
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, UiError> {
        T::from_request_parts(parts, st)
            .await
            .map(Ui)
            .map_err(UiError::from)
    }
}

/// A page that cannot be shown: the API's error (status, code, headers and
/// audit marks) with an HTML body, or the sign-in form.
pub enum UiError {
    Api(ApiError),
    SignIn { next: String },
}

impl UiError {
    fn new(status: StatusCode, message: &str) -> Self {
        UiError::Api(ApiError::new(
            status,
            if status == StatusCode::FORBIDDEN {
                "forbidden"
            } else {
                "invalid_request"
            },
            message,
        ))
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError::Api(e)
    }
}

impl From<crate::error::Error> for UiError {
    fn from(e: crate::error::Error) -> Self {
        UiError::Api(ApiError::from(e))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn { next } => {
                html_answer(StatusCode::UNAUTHORIZED, pages::sign_in_page(&next, None))
            }
            UiError::Api(e) => {
                let (status, code, message) = (e.status(), e.code(), e.message().to_owned());
                let mut resp = e.into_response();
                let body = bare_page(
                    &format!("{} {}", status.as_u16(), code),
                    html! {
                        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                        p.error { (message) }
                        p { a href="/ui" { "Back to the namespaces" } }
                    },
                );
                *resp.body_mut() = axum::body::Body::from(body.into_string());
                let h = resp.headers_mut();
                h.remove(header::CONTENT_LENGTH);
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                resp
            }
        }
    }
}

/// An HTML answer.
fn html_answer(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

/// Every page's head: its title and the one stylesheet.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Signet" }
            link rel="stylesheet" href="/ui/assets/console.css";
        }
    }
}

/// A page without the signed-in header (sign-in, errors).
fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/ui" { "Signet" } }
                main { (body) }
            }
        }
    }
}

/// A page for a signed-in viewer: navigation, search, who is signed in.
fn page(viewer: &Principal, title: &str, crumbs: &[(String, String)], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/ui" { "Signet" }
                    nav {
                        a href="/ui" { "Namespaces" }
                        a href="/ui/keys" { "Keys" }
                        a href="/ui/quarantines" { "Quarantines" }
                        a href="/ui/audit" { "Audit log" }
                    }
                    form.search method="get" action="/ui/search" role="search" {
                        input type="search" name="q" placeholder="model, ns/model@v, dataset digest, commit"
                            aria-label="Search";
                        button type="submit" { "Search" }
                    }
                    form.signout method="post" action="/ui/logout" {
                        span.who { "Signed in as " strong { (viewer.name()) } }
                        button type="submit" { "Sign out" }
                    }
                }
                @if !crumbs.is_empty() {
                    nav.crumbs aria-label="Breadcrumb" {
                        @for (i, (href, text)) in crumbs.iter().enumerate() {
                            @if i > 0 { span.sep { "/" } }
                            a href=(href) { (text) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

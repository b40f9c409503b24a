//! The console's pages: one handler each, as thin as the API's, and the markup
//! they fill in.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::AppState;
use super::super::audit::AuditFilters;
use super::super::extract::{ApiQuery, ModelPath, NsPath, Paging, VersionPath};
use super::super::keys::KeyView;
use super::super::quarantines::QuarantineView;
use super::super::views::{FileView, ModelView, VersionSummary, VersionView};
use super::{COOKIE, Ui, UiError, Viewer, bare_page, graph, page};
use crate::auth::{Credential, Global, Manage, Read, ReadAudit};
use crate::auth::{authorize, authorize_global};
use crate::error::Error;
use crate::kinds::QuarantineTarget;
use crate::lineage::LineageHit;
use crate::names::{AliasName, CommitId, ModelName, ModelRef, Namespace, Sha256, VersionNumber};
use crate::page::Page;
use crate::trail::Trail;

type PageResult = Result<Html<String>, UiError>;

fn done(m: Markup) -> PageResult {
    Ok(Html(m.into_string()))
}

// --- Formatting --------------------------------------------------------------

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "—".into())
}

/// A digest shown by its first 12 digits, whole on hover and when copied.
fn digest(hex: &str) -> Markup {
    let short: String = hex.chars().take(12).collect();
    html! { code.digest title=(hex) { (short) "…" } }
}

fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn ns_url(ns: &str) -> String {
    format!("/ui/namespaces/{ns}")
}

fn model_url(ns: &str, model: &str) -> String {
    format!("/ui/models/{ns}/{model}")
}

fn version_url(ns: &str, model: &str, v: i64) -> String {
    format!("/ui/models/{ns}/{model}/versions/{v}")
}

fn crumbs_of(ns: &str, model: Option<&str>, v: Option<i64>) -> Vec<(String, String)> {
    let mut c = vec![
        ("/ui".to_owned(), "namespaces".to_owned()),
        (ns_url(ns), ns.to_owned()),
    ];
    if let Some(m) = model {
        c.push((model_url(ns, m), m.to_owned()));
        if let Some(v) = v {
            c.push((version_url(ns, m, v), format!("version {v}")));
        }
    }
    c
}

/// A link to the next page of a list, keeping the other parameters.
fn next_link(path: &str, keep: &[(String, String)], cursor: Option<&str>) -> Markup {
    let Some(cursor) = cursor else {
        return html! {};
    };
    let mut pairs: Vec<(&str, &str)> = keep
        .iter()
        .filter(|(k, v)| k != "cursor" && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("cursor", cursor));
    html! { p.more { a rel="next" href={ (path) "?" (encode(&pairs)) } { "Next page →" } } }
}

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

fn badge(ok: bool, yes: &str, no: &str) -> Markup {
    html! {
        @if ok { span.badge.ok { (yes) } } @else { span.badge.bad { (no) } }
    }
}

/// The command a viewer would run to act on what the page shows.
fn cli(lines: &[String]) -> Markup {
    html! {
        section.cli {
            h2 { "From the command line" }
            pre { @for l in lines { (l) "\n" } }
        }
    }
}

// --- Sign-in -----------------------------------------------------------------

/// A page path to return to after sign-in: only the console's own pages.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if super::is_page(n) && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
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
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Where a request comes from, for authentication and its audit trail.
pub struct Caller {
    pub(super) client: Option<std::net::IpAddr>,
    pub(super) trail: Trail,
}

impl Caller {
    pub(super) fn of(parts: &Parts) -> Self {
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

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Exchanges the API token of the form for a console session.
pub async fn login(State(st): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return UiError::new(
            StatusCode::BAD_REQUEST,
            "the sign-in form was not understood",
        )
        .into_response();
    };
    let next = safe_next(form.next.as_deref());
    let trail = caller.trail.clone();
    let signed = st
        .access
        .authenticate_as(
            Credential::Bearer,
            Some(form.token.trim()),
            caller.client,
            caller.trail,
        )
        .await;
    let p = match signed {
        Ok(p) => p,
        Err(Error::Unauthenticated) => {
            let page = sign_in_page(
                &next,
                Some("That token was not accepted: it is unknown, expired or revoked."),
            );
            return super::html_answer(StatusCode::UNAUTHORIZED, page);
        }
        Err(e) => return UiError::from(e).into_response(),
    };
    trail.note(|c| c.success_status = StatusCode::SEE_OTHER.as_u16());
    let session = match st.access.open_session(&p).await {
        Ok(s) => s,
        Err(e) => return UiError::from(e).into_response(),
    };
    let max_age = session
        .token
        .expires_at
        .map_or(0, |t| (t - Utc::now()).num_seconds().max(0));
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        session.secret.expose(),
        if st.secure_cookies { "; Secure" } else { "" }
    );
    let mut resp = see_other(&next);
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

// --- Namespaces and models ---------------------------------------------------

pub async fn home(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let list = st.registry.namespaces(&p, &pg).await?;
    done(page(
        &p,
        "Namespaces",
        &[],
        html! {
            h1 { "Namespaces" }
            @if list.items.is_empty() {
                p.empty { "No namespace you may read." }
            } @else {
                table {
                    thead { tr { th { "Namespace" } th { "Description" } th { "Created" } th { "By" } } }
                    tbody {
                        @for ns in &list.items {
                            tr {
                                td { a href=(ns_url(ns.name.as_str())) { (ns.name) } }
                                td { (ns.description) }
                                td { (when(ns.created_at)) }
                                td { (ns.created_by) }
                            }
                        }
                    }
                }
            }
            (next_link("/ui", &[], list.next_cursor.as_deref()))
        },
    ))
}

pub async fn namespace(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(NsPath(ns)): Ui<NsPath>,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &ns)?;
    let record = st.registry.namespace(&permit).await?;
    let policy = st.trust.policy(&permit).await?;
    let models = st.registry.models(&p, Some(&permit), &pg).await?;
    let name = ns.as_str();
    done(page(
        &p,
        name,
        &crumbs_of(name, None, None),
        html! {
            h1 { "Namespace " (name) }
            p { (record.description) }
            section {
                h2 { "Promotion policy" }
                dl.facts {
                    dt { "Signatures required" } dd { (policy.min_signatures) }
                    dt { "Pickle-based files" } dd { @if policy.allow_unsafe_formats { "allowed" } @else { "refused" } }
                    dt { "Files of no known format" } dd { (format!("{:?}", policy.unknown_formats).to_lowercase()) }
                    @for (alias, fields) in &policy.lineage_required {
                        dt { "Lineage for " code { (alias) } }
                        dd { @for f in fields { code { (serde_json::to_value(f).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()) } " " } }
                    }
                }
            }
            section {
                h2 { "Models" }
                @if models.items.is_empty() {
                    p.empty { "No model yet." }
                } @else {
                    table {
                        thead { tr { th { "Model" } th { "Description" } th { "Latest version" } th { "Aliases" } th { "Created" } } }
                        tbody {
                            @for m in models.items.into_iter().map(ModelView::from) {
                                tr {
                                    td { a href=(model_url(name, &m.name)) { (m.name) } }
                                    td { (m.description) }
                                    td { @if let Some(v) = m.latest_version { a href=(version_url(name, &m.name, v)) { (v) } } @else { "—" } }
                                    td { @for (a, v) in &m.aliases { span.alias { (a) " → " (v) } " " } }
                                    td { (when(m.created_at)) }
                                }
                            }
                        }
                    }
                }
                (next_link(&ns_url(name), &[], models.next_cursor.as_deref()))
            }
        },
    ))
}

pub async fn model(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(ModelPath(m)): Ui<ModelPath>,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &m.namespace)?;
    let details = st.registry.model(&permit, &m.name).await?;
    let versions = st.registry.versions_signed(&permit, &m.name, &pg).await?;
    let recent = Page::parse(Some(20), None).map_err(Error::from)?;
    let mut history = Vec::new();
    for (alias, _) in &details.aliases {
        let moves = st
            .trust
            .alias_history(&permit, &m.name, alias, &recent)
            .await?;
        history.extend(moves.items);
    }
    history.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    let (ns, name) = (m.namespace.as_str(), m.name.as_str());
    let at_version = |v: i64| -> Vec<&AliasName> {
        details
            .aliases
            .iter()
            .filter(|(_, n)| n.get() == v)
            .map(|(a, _)| a)
            .collect()
    };
    let description = details.model.description.clone();
    done(page(
        &p,
        &format!("{ns}/{name}"),
        &crumbs_of(ns, Some(name), None),
        html! {
            h1 { "Model " (ns) "/" (name) }
            p { (description) }
            section {
                h2 { "Versions" }
                @if versions.items.is_empty() {
                    p.empty { "No version yet." }
                } @else {
                    table.versions {
                        thead { tr { th { "Version" } th { "State" } th { "Signatures" } th { "Aliases" } th { "Created" } th { "By" } th { "Sealed" } th { "Root digest" } } }
                        tbody {
                            @for (v, signed) in &versions.items {
                                @let s = VersionSummary::from(v);
                                tr {
                                    td { a href=(version_url(ns, name, s.version)) { (s.version) } }
                                    td { span.state { (s.state) } }
                                    td { @if *signed == 0 { span.empty { "unsigned" } } @else { (signed) } }
                                    td { @for a in at_version(s.version) { span.alias { (a) } " " } }
                                    td { (when(s.created_at)) }
                                    td { (s.created_by) }
                                    td { (when_opt(s.sealed_at)) }
                                    td { @if let Some(d) = &s.root_digest { (digest(d)) } @else { "—" } }
                                }
                            }
                        }
                    }
                }
                (next_link(&model_url(ns, name), &[], versions.next_cursor.as_deref()))
            }
            section {
                h2 { "Alias history" }
                @if history.is_empty() {
                    p.empty { "No alias has been set." }
                } @else {
                    ol.timeline {
                        @for mv in &history {
                            li {
                                time { (when(mv.at)) } " "
                                strong { (mv.principal) } " moved " span.alias { (mv.alias) } " "
                                @match (mv.previous_version, mv.version) {
                                    (Some(a), Some(b)) => { "from " (a) " to " a href=(version_url(ns, name, b.get())) { (b) } }
                                    (None, Some(b)) => { "to " a href=(version_url(ns, name, b.get())) { (b) } }
                                    (Some(a), None) => { "away from " (a) " (removed)" }
                                    (None, None) => { "(removed)" }
                                }
                                @if !mv.reason.is_empty() { ": " q { (mv.reason) } }
                            }
                        }
                    }
                }
            }
            (cli(&[format!("signet pull {ns}/{name}@production ./model")]))
        },
    ))
}

// --- A version ---------------------------------------------------------------

pub async fn version(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(VersionPath(m, n)): Ui<VersionPath>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &m.namespace)?;
    let panel = st.trust.gate_panel(&permit, &m.name, n).await?;
    let gates: Vec<(String, Vec<&'static str>)> = panel
        .gates
        .iter()
        .map(|(a, reasons)| (a.to_string(), reasons.iter().map(|r| r.as_str()).collect()))
        .collect();
    let quarantined = panel.details.quarantined;
    let view = VersionView::from(panel.details);
    let sources = match quarantined {
        true => quarantine_sources(&st.provenance.graph(&permit, &p, &m.name, n).await?),
        false => Vec::new(),
    };
    let mut algorithms = std::collections::BTreeMap::new();
    for s in &view.signatures {
        if let Ok(keyid) = crate::names::KeyId::parse(&s.keyid) {
            let algorithm = match st.trust.key(&p, &keyid).await {
                Ok(k) => k.key.algorithm.to_string(),
                Err(_) => "unknown key".to_owned(),
            };
            algorithms.insert(s.keyid.clone(), algorithm);
        }
    }
    let (ns, name, v) = (
        view.namespace.as_str(),
        view.model.as_str(),
        view.summary.version,
    );
    done(page(
        &p,
        &format!("{ns}/{name}@{v}"),
        &crumbs_of(ns, Some(name), Some(v)),
        html! {
            h1 { (ns) "/" (name) " version " (v) }
            p.status {
                span.state { (view.summary.state) } " "
                (badge(view.verified, "verified", "not verified")) " "
                @if view.quarantined { span.badge.bad { "quarantined" } " " }
                @if view.unsafe_formats { span.badge.warn { "holds files that may run code when loaded" } " " }
                @for a in &view.aliases { span.alias { (a) } " " }
            }
            dl.facts {
                dt { "Created" } dd { (when(view.summary.created_at)) " by " (view.summary.created_by) }
                dt { "Sealed" } dd { (when_opt(view.summary.sealed_at)) }
                dt { "Root digest" } dd { @if let Some(d) = &view.summary.root_digest { code { (d) } } @else { "—" } }
                dt { "Lineage" } dd { a href={ (version_url(ns, name, v)) "/lineage" } { "Lineage graph" } }
            }
            section.gate {
                h2 { "Promotion gate, now" }
                @if gates.is_empty() {
                    p.empty { "The namespace's policy names no alias." }
                } @else {
                    table {
                        thead { tr { th { "Alias" } th { "Would promotion pass?" } th { "Reasons it would not" } } }
                        tbody {
                            @for (alias, reasons) in &gates {
                                tr {
                                    td { span.alias { (alias) } }
                                    td { (badge(reasons.is_empty(), "passes", "refused")) }
                                    td { @for r in reasons { code.reason { (r) } " " } }
                                }
                            }
                        }
                    }
                }
                @if view.quarantined {
                    p { "This version is quarantined. " a href="/ui/quarantines" { "See the quarantines" } " and the "
                        a href={ (version_url(ns, name, v)) "/lineage" } { "lineage graph" } "." }
                    h3 { "Where the quarantine comes from" }
                    ul.plain {
                        @if sources.is_empty() { li { "A quarantine of this version itself." } }
                        @for (text, href) in &sources { li { a href=(href) { (text) } } }
                    }
                }
            }
            section {
                h2 { "Signatures" }
                @if view.signatures.is_empty() {
                    p.empty { "Unsigned." }
                } @else {
                    table {
                        thead { tr { th { "Key" } th { "Key id" } th { "Algorithm" } th { "Received" } th { "Status" } } }
                        tbody {
                            @for s in &view.signatures {
                                tr {
                                    td { (s.key_name) }
                                    td { (digest(&s.keyid)) }
                                    td { (algorithms.get(&s.keyid).map_or("—", String::as_str)) }
                                    td { (when(s.received_at)) }
                                    td {
                                        (badge(s.status == "verified", "verified", &s.status))
                                        @if s.content_only { " " span.badge.warn { "content only" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Files" }
                (files_table(&view.files))
            }
            section {
                h2 { "Lineage" }
                (lineage_facts(&view.lineage))
            }
            section {
                h2 { "Metadata" }
                pre.json { (serde_json::to_string_pretty(&view.metadata).unwrap_or_default()) }
            }
            (cli(&[
                format!("signet sign {ns}/{name}@{v} --key KEY"),
                format!("signet promote {ns}/{name}@{v} ALIAS --reason TEXT"),
                format!("signet pull {ns}/{name}@{v} ./model"),
            ]))
        },
    ))
}

/// What makes the focus of `g` quarantined, as far as its graph shows: the
/// quarantined datasets and commits it or an ancestor was built from, and its
/// quarantined ancestors (nearest first). Empty: a quarantine of the version.
fn quarantine_sources(g: &crate::lineage::LineageGraph) -> Vec<(String, String)> {
    let upstream: Vec<_> = g.versions.iter().filter(|n| n.depth <= 0).collect();
    let used =
        |kind: &str, value: &str| upstream.iter().any(|n| n.inputs().contains(&(kind, value)));
    let mut out = Vec::new();
    for (kind, inputs) in [("dataset", &g.datasets), ("commit", &g.commits)] {
        for i in inputs
            .values()
            .filter(|i| i.quarantined && used(kind, &i.value))
        {
            out.push((format!("The {kind} {}", i.value), search_url(&i.value)));
        }
    }
    let mut ancestors: Vec<_> = upstream
        .iter()
        .filter(|n| n.depth < 0 && n.quarantined)
        .collect();
    ancestors.sort_by_key(|n| -n.depth);
    for n in ancestors {
        let v = &n.version;
        out.push((
            format!("The base model {}/{}@{}", v.namespace, v.model, v.version),
            version_url(v.namespace.as_str(), v.model.as_str(), v.version.get()),
        ));
    }
    out
}

fn files_table(files: &[FileView]) -> Markup {
    html! {
        @if files.is_empty() {
            p.empty { "No file." }
        } @else {
            table {
                thead { tr { th { "Path" } th { "Size" } th { "SHA-256" } th { "Format" } } }
                tbody {
                    @for f in files {
                        tr {
                            td { code { (f.path) } }
                            td title=(format!("{} bytes", f.size)) { (bytes(f.size)) }
                            td { (digest(&f.sha256)) }
                            td title=(f.format_reason) { (f.format) }
                        }
                    }
                }
            }
        }
    }
}

fn search_url(q: &str) -> String {
    format!("/ui/search?{}", encode(&[("q", q)]))
}

fn lineage_facts(l: &serde_json::Value) -> Markup {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    html! {
        dl.facts {
            dt { "Code" }
            dd {
                @if let Some(repo) = text(&l["code"]["repo"]) { (repo) " " }
                @if let Some(c) = text(&l["code"]["commit"]) { a href=(search_url(&c)) { code { (c) } } } @else { "—" }
            }
            dt { "Data" }
            dd {
                @let data = l["data"].as_array().cloned().unwrap_or_default();
                @if data.is_empty() { "—" }
                ul.plain {
                    @for d in &data {
                        li {
                            @if let Some(n) = text(&d["name"]) { (n) " " }
                            @if let Some(s) = text(&d["sha256"]) { a href=(search_url(&s)) { (digest(&s)) } }
                            @if let Some(u) = text(&d["uri"]) { " " span.uri { (u) } }
                        }
                    }
                }
            }
            dt { "Parents" }
            dd {
                @let parents = l["parents"].as_array().cloned().unwrap_or_default();
                @if parents.is_empty() { "—" }
                @for par in &parents {
                    @if let (Some(m), Some(v)) = (text(&par["model"]), par["version"].as_i64()) {
                        @if let Some((pns, pm)) = m.split_once('/') {
                            a href=(version_url(pns, pm, v)) { (m) "@" (v) } " "
                        }
                    }
                }
            }
            dt { "Environment" }
            dd { @if l["environment"].is_null() { "—" } @else { pre.json { (serde_json::to_string_pretty(&l["environment"]).unwrap_or_default()) } } }
            dt { "Run" }
            dd { @if l["run"].is_null() { "—" } @else { pre.json { (serde_json::to_string_pretty(&l["run"]).unwrap_or_default()) } } }
        }
    }
}

pub async fn lineage(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(VersionPath(m, n)): Ui<VersionPath>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &m.namespace)?;
    let g = st.provenance.graph(&permit, &p, &m.name, n).await?;
    let (ns, name, v) = (m.namespace.as_str(), m.name.as_str(), n.get());
    let tainted = g.versions.iter().filter(|n| n.quarantined).count();
    done(page(
        &p,
        &format!("Lineage of {ns}/{name}@{v}"),
        &crumbs_of(ns, Some(name), Some(v)),
        html! {
            h1 { "Lineage of " (ns) "/" (name) "@" (v) }
            p {
                (count(g.versions.len() - 1, "related version")) " you may see, "
                (count(g.datasets.len(), "dataset")) ", " (count(g.commits.len(), "commit")) ". "
                @if tainted > 0 { span.badge.bad { (count(tainted, "version")) " quarantined" } }
            }
            figure.graph {
                (graph::draw(&g))
                figcaption { "Base models on the left, fine-tunes on the right; each dataset and commit "
                    "just before the first version built from it. Quarantined nodes are outlined in red; "
                    "each node links to its page." }
            }
            (cli(&[format!("signet lineage version {ns}/{name}@{v}")]))
        },
    ))
}

// --- The audit log -----------------------------------------------------------

fn pairs_of(query: Option<&str>) -> Result<Vec<(String, String)>, UiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| UiError::new(StatusCode::BAD_REQUEST, "invalid query string"))
}

const AUDIT_FILTERS: [(&str, &str); 8] = [
    ("principal", "Principal"),
    ("action", "Action"),
    ("namespace", "Namespace"),
    ("model", "Model"),
    ("outcome", "Outcome"),
    ("since", "Since (RFC 3339)"),
    ("until", "Until (RFC 3339)"),
    ("request_id", "Request id"),
];

pub async fn audit(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    RawQuery(query): RawQuery,
) -> PageResult {
    let mut pairs = pairs_of(query.as_deref())?;
    let may_verify = p.may_globally::<ReadAudit>(Global::All);
    let given =
        |pairs: &[(String, String)], k: &str| pairs.iter().any(|(n, v)| n == k && !v.is_empty());
    if !may_verify && !given(&pairs, "namespace") {
        // An auditor of some namespaces reads one at a time: the first of them.
        let all = Page::parse(Some(Page::MAX_LIMIT), None).map_err(Error::from)?;
        let first = st
            .registry
            .namespaces(&p, &all)
            .await?
            .items
            .into_iter()
            .find(|ns| p.may::<ReadAudit>(&ns.name));
        match first {
            Some(ns) => {
                pairs.retain(|(k, _)| k != "namespace");
                pairs.push(("namespace".into(), ns.name.to_string()));
            }
            None => return Err(Error::forbidden().into()),
        }
    }
    let Paging(filters, pg) = Paging::<AuditFilters>::of_form(&pairs)?;
    let (scope, q) = filters.scope(&p)?;
    let events = st.auditing.search(&scope, &q, &pg).await?;
    let head = match may_verify {
        true => Some(
            st.auditing
                .head(&authorize_global::<ReadAudit>(&p, Global::All)?)
                .await?,
        ),
        false => None,
    };
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    let export: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, v)| k != "cursor" && k != "limit" && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    done(page(
        &p,
        "Audit log",
        &[],
        html! {
            h1 { "Audit log" }
            @if let Some(head) = &head {
                p.chain {
                    "The chain's head is event #" (head.seq) ", hash " (digest(&head.hash)) ". "
                    a href="/ui/audit/verify" { "Verify the whole chain" }
                }
            }
            p { a href={ "/ui/audit/export?" (encode(&export)) } { "Export these events (JSON Lines)" } }
            form.filters method="get" action="/ui/audit" {
                @for (k, label) in AUDIT_FILTERS {
                    label { span { (label) } input type="text" name=(k) value=(value(k)); }
                }
                button type="submit" { "Filter" }
            }
            @if events.items.is_empty() {
                p.empty { "No event matches." }
            } @else {
                table.audit {
                    thead { tr { th { "#" } th { "Time (UTC)" } th { "Principal" } th { "Action and resource" } th { "Namespace" } th { "Status" } th { "Outcome" } th { "Request" } } }
                    tbody {
                        @for c in &events.items {
                            @let e = &c.event;
                            tr {
                                td { (e.seq) }
                                td title=(e.at) { (e.at.get(..19).unwrap_or(&e.at).replace('T', " ")) }
                                td { (e.principal.as_deref().unwrap_or("—")) }
                                td { code { (e.action) } br; span.resource { (e.resource) } }
                                td { (e.namespace.as_deref().unwrap_or("—")) }
                                td { (e.status) }
                                td { (e.outcome.as_str()) }
                                td { (digest(&e.request_id)) }
                            }
                        }
                    }
                }
            }
            (next_link("/ui/audit", &pairs, events.next_cursor.as_deref()))
        },
    ))
}

pub async fn audit_export(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let pairs = pairs_of(query.as_deref())?;
    let Paging(filters, _) = Paging::<AuditFilters>::of_form(&pairs)?;
    let (scope, q) = filters.scope(&p)?;
    let body = axum::body::Body::from_stream(st.auditing.export(&scope, &q));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"signet-audit.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}

pub async fn audit_verify(State(st): State<AppState>, Viewer(p): Viewer) -> PageResult {
    let permit = authorize_global::<ReadAudit>(&p, Global::All)?;
    let report = st.auditing.verify(&permit).await?;
    done(page(
        &p,
        "Audit chain",
        &[],
        html! {
            h1 { "The audit chain" }
            p.status { (badge(report.ok, "intact", "broken")) }
            dl.facts {
                dt { "Events checked" } dd { (report.checked) }
                dt { "Head" } dd { "#" (report.head.seq) " " code { (report.head.hash) } }
                @if let Some(bad) = report.first_bad_seq { dt { "First bad event" } dd { "#" (bad) } }
            }
            (cli(&["signet audit export --out audit.jsonl".to_owned(), "signet audit verify --file audit.jsonl".to_owned()]))
        },
    ))
}

// --- Keys and quarantines ----------------------------------------------------

/// Versions listed beside each key (all are counted).
const KEY_VERSIONS_SHOWN: usize = 5;

pub async fn keys(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    authorize_global::<Read>(&p, Global::Public)?;
    let keys = st.trust.keys(&p, &pg).await?;
    let mut rows = Vec::with_capacity(keys.items.len());
    for k in keys.items {
        let signed = st.trust.signed_by(&p, &k.key.keyid).await?;
        rows.push((KeyView::from(k), signed));
    }
    done(page(
        &p,
        "Keys",
        &[],
        html! {
            h1 { "Signing keys" }
            @if rows.is_empty() {
                p.empty { "No key you may see." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Key id" } th { "Algorithm" } th { "Scope" } th { "Expires" } th { "Registered" } th { "Revoked" } th { "Versions signed" } } }
                    tbody {
                        @for (k, signed) in &rows {
                            tr {
                                td { (k.name) }
                                td { (digest(&k.keyid)) }
                                td { (k.algorithm) }
                                td { @for ns in &k.namespaces { code { (ns) } " " } }
                                td { (when_opt(k.expires_at)) }
                                td { (when(k.created_at)) @if let Some(by) = &k.created_by { " by " (by) } }
                                td {
                                    @if let Some(at) = k.revoked_at {
                                        span.badge.bad { (k.revocation_reason.as_deref().unwrap_or("revoked")) } " " (when(at))
                                        @if let Some(n) = &k.revocation_note { ": " q { (n) } }
                                    } @else { "—" }
                                }
                                td {
                                    (signed.len())
                                    @for v in signed.iter().take(KEY_VERSIONS_SHOWN) {
                                        " " a href=(version_url(v.namespace.as_str(), v.model.as_str(), v.version.get())) {
                                            (v.namespace) "/" (v.model) "@" (v.version) }
                                    }
                                    @if signed.len() > KEY_VERSIONS_SHOWN { " …" }
                                }
                            }
                        }
                    }
                }
            }
            (next_link("/ui/keys", &[], keys.next_cursor.as_deref()))
            (cli(&["signet key register NAME.pub --namespace NS".to_owned()]))
        },
    ))
}

/// Versions a quarantine blocks and the aliases at them, at most this many.
const AFFECTED_SHOWN: usize = 20;

pub async fn quarantines(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let permit = authorize_global::<Manage>(&p, Global::AnyNamespace)?;
    let list = st.provenance.quarantines(&permit, &p, &pg).await?;
    let mut rows = Vec::new();
    for q in list.items {
        let hits: Vec<LineageHit> = match &q.target {
            QuarantineTarget::Dataset(d) => st.provenance.by_dataset(&p, *d).await?,
            QuarantineTarget::Commit(c) => st.provenance.by_commit(&p, c.clone()).await?,
            QuarantineTarget::Version(..) => Vec::new(),
        };
        let mut affected = Vec::new();
        for h in hits.into_iter().take(AFFECTED_SHOWN) {
            let aliases = st.registry.aliases_at(&h.version).await?;
            affected.push((h.version, aliases));
        }
        rows.push((QuarantineView::from(q), affected));
    }
    done(page(
        &p,
        "Quarantines",
        &[],
        html! {
            h1 { "Quarantines" }
            @if rows.is_empty() {
                p.empty { "No quarantine." }
            }
            @for (q, affected) in &rows {
                article.quarantine.lifted[q.lifted_at.is_some()] {
                    h2 {
                        (q.kind) " " code { (q.value) } " "
                        @if q.lifted_at.is_some() { span.badge.ok { "lifted" } } @else { span.badge.bad { "active" } }
                    }
                    dl.facts {
                        dt { "Scope" } dd { @for ns in &q.namespaces { code { (ns) } " " } }
                        dt { "Reason" } dd { (q.reason) }
                        dt { "Imposed" } dd { (when(q.created_at)) " by " (q.created_by) }
                        @if let Some(at) = q.lifted_at {
                            dt { "Lifted" } dd { (when(at)) " by " (q.lifted_by.as_deref().unwrap_or("—")) ": " (q.lift_reason.as_deref().unwrap_or("")) }
                        }
                    }
                    @if q.kind == "version" {
                        @if let Some((m, v)) = q.value.split_once('@') {
                            @if let Some((ns, name)) = m.split_once('/') {
                                p { "Blocks " a href=(version_url(ns, name, v.parse().unwrap_or(0))) { (q.value) }
                                    " and every version built from it (" a href={ (version_url(ns, name, v.parse().unwrap_or(0))) "/lineage" } { "its lineage" } ")." }
                            }
                        }
                    } @else if affected.is_empty() {
                        p.empty { "No version you may see was built from it." }
                    } @else {
                        h3 { "Versions built from it" }
                        ul.plain {
                            @for (v, aliases) in affected {
                                li {
                                    a href=(version_url(v.namespace.as_str(), v.model.as_str(), v.version.get())) { (v.namespace) "/" (v.model) "@" (v.version) }
                                    @for a in aliases { " " span.alias { (a) } }
                                }
                            }
                        }
                    }
                }
            }
            (next_link("/ui/quarantines", &[], list.next_cursor.as_deref()))
        },
    ))
}

// --- Search ------------------------------------------------------------------

/// Versions listed per kind of search hit (all are counted).
const SEARCH_SHOWN: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// A model (`ns/model`, or a bare name in the namespaces the viewer reads), a
/// version (`ns/model@v` or `ns/model@alias`), a dataset digest or a commit.
pub async fn search(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(ApiQuery(sq)): Ui<ApiQuery<SearchQuery>>,
) -> Result<Response, UiError> {
    let q = sq.q.trim();
    let versioned = q
        .split_once('@')
        .and_then(|(model, at)| Some((ModelRef::parse(model).ok()?, at)));
    if let Some((m, at)) = versioned {
        let permit = authorize::<Read>(&p, &m.namespace)?;
        let number = match VersionNumber::parse(at) {
            Ok(n) => n,
            Err(_) => {
                let alias = AliasName::parse(at).map_err(Error::from)?;
                st.trust
                    .resolve(&permit, &m.name, &alias)
                    .await?
                    .version
                    .version
            }
        };
        let v = st.registry.version(&permit, &m.name, number).await?;
        return Ok(see_other(&version_url(
            v.namespace.as_str(),
            v.model.as_str(),
            v.version.get(),
        )));
    }
    if let Ok(m) = ModelRef::parse(q) {
        let permit = authorize::<Read>(&p, &m.namespace)?;
        st.registry.model(&permit, &m.name).await?;
        return Ok(see_other(&model_url(m.namespace.as_str(), m.name.as_str())));
    }
    let mut hits: Vec<(String, Vec<LineageHit>)> = Vec::new();
    if let Ok(d) = Sha256::parse(q) {
        hits.push((
            format!("Versions trained or evaluated on dataset {q}"),
            st.provenance.by_dataset(&p, d).await?,
        ));
    }
    if let Ok(c) = CommitId::parse(q) {
        hits.push((
            format!("Versions built from commit {q}"),
            st.provenance.by_commit(&p, c).await?,
        ));
    }
    let mut models = Vec::new();
    if let Ok(name) = ModelName::parse(q) {
        let all = Page::parse(Some(Page::MAX_LIMIT), None).map_err(Error::from)?;
        for ns in st.registry.namespaces(&p, &all).await?.items {
            let Ok(permit) = authorize::<Read>(&p, &ns.name) else {
                continue;
            };
            if st.registry.model(&permit, &name).await.is_ok() {
                models.push(ns.name.clone());
            }
        }
        // Nothing else by that name: a namespace of it.
        let permit = Namespace::parse(q)
            .ok()
            .and_then(|ns| authorize::<Read>(&p, &ns).ok());
        if let Some(permit) = permit.filter(|_| models.is_empty() && hits.is_empty())
            && st.registry.namespace(&permit).await.is_ok()
        {
            return Ok(see_other(&ns_url(permit.namespace().as_str())));
        }
    }
    let body = page(
        &p,
        "Search",
        &[],
        html! {
            h1 { "Search" }
            @if q.is_empty() {
                p { "Search for a model (" code { "ns/model" } " or its name), a version (" code { "ns/model@3" } ", "
                    code { "ns/model@production" } "), a dataset's SHA-256 or a commit." }
            } @else if hits.iter().all(|(_, h)| h.is_empty()) && models.is_empty() {
                p.empty { "Nothing you may see matches " q { (q) } "." }
            }
            @for ns in &models {
                p { "Model " a href=(model_url(ns.as_str(), q)) { (ns) "/" (q) } }
            }
            @for (title, list) in &hits {
                @if !list.is_empty() {
                    section {
                        h2 { (title) }
                        p { (count(list.len(), "version")) @if list.len() > SEARCH_SHOWN { ", the first " (SEARCH_SHOWN) " shown" } }
                        ul.plain {
                            @for h in list.iter().take(SEARCH_SHOWN) {
                                li { a href=(version_url(h.version.namespace.as_str(), h.version.model.as_str(), h.version.version.get())) {
                                    (h.version.namespace) "/" (h.version.model) "@" (h.version.version) }
                                    @if h.depth > 0 { " (through " (h.depth) " parent" @if h.depth > 1 { "s" } ")" } }
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(Html(body.into_string()).into_response())
}

impl From<crate::names::InvalidValue> for UiError {
    fn from(e: crate::names::InvalidValue) -> Self {
        UiError::from(Error::from(e))
    }
}

/// Any other path under `/ui`.
pub async fn not_found() -> UiError {
    UiError::from(Error::NotFound)
}

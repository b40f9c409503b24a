//! The console's pages: one handler each, and the markup they fill in. Pages are
//! split by subject; what they share (formatting, links, small widgets) is here.

use axum::response::Html;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::UiError;
use crate::error::Error;

mod audit;
mod browse;
mod search;
mod signin;
mod trust;
mod version;

pub use audit::{audit, audit_export, audit_verify};
pub use browse::{home, model, namespace};
pub use search::search;
use signin::see_other;
pub use signin::{Caller, login, login_form, logout, sign_in_page};
pub use trust::{keys, quarantines};
pub use version::{lineage, version};

type PageResult = Result<Html<String>, UiError>;

pub(super) fn done(m: Markup) -> PageResult {
    Ok(Html(m.into_string()))
}

pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(super) fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "—".into())
}

/// A digest shown by its first 12 digits, whole on hover and when copied.
pub(super) fn digest(hex: &str) -> Markup {
    let short: String = hex.chars().take(12).collect();
    html! { code.digest title=(hex) { (short) "…" } }
}

pub(super) fn bytes(n: i64) -> String {
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

pub(super) fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub(super) fn ns_url(ns: &str) -> String {
    format!("/ui/namespaces/{ns}")
}

pub(super) fn model_url(ns: &str, model: &str) -> String {
    format!("/ui/models/{ns}/{model}")
}

pub(super) fn version_url(ns: &str, model: &str, v: i64) -> String {
    format!("/ui/models/{ns}/{model}/versions/{v}")
}

pub(super) fn crumbs_of(ns: &str, model: Option<&str>, v: Option<i64>) -> Vec<(String, String)> {
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
pub(super) fn next_link(path: &str, keep: &[(String, String)], cursor: Option<&str>) -> Markup {
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
pub(super) fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

pub(super) fn badge(ok: bool, yes: &str, no: &str) -> Markup {
    html! {
        @if ok { span.badge.ok { (yes) } } @else { span.badge.bad { (no) } }
    }
}

/// The command a viewer would run to act on what the page shows.
pub(super) fn cli(lines: &[String]) -> Markup {
    html! {
        section.cli {
            h2 { "From the command line" }
            pre { @for l in lines { (l) "\n" } }
        }
    }
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

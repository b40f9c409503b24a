//! Search by model, version, alias, dataset or commit.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::super::AppState;
use super::super::super::extract::ApiQuery;
use super::super::{Ui, UiError, Viewer, page};
use super::*;
use crate::catalog::{Found, Matches};

/// Versions listed per kind of search hit (all are counted).
pub(super) const SEARCH_SHOWN: usize = 100;

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
    Ok(match st.catalog.search(&p, q).await? {
        Found::Version(m, v) => {
            see_other(&version_url(m.namespace.as_str(), m.name.as_str(), v.get()))
        }
        Found::Model(m) => see_other(&model_url(m.namespace.as_str(), m.name.as_str())),
        Found::Namespace(ns) => see_other(&ns_url(ns.as_str())),
        Found::Matches(found) => {
            Html(page(&p, "Search", &[], matches(q, &found)).into_string()).into_response()
        }
    })
}

/// What a search found, or how to search.
fn matches(q: &str, found: &Matches) -> Markup {
    let hits = [
        (
            format!("Versions trained or evaluated on dataset {q}"),
            &found.dataset,
        ),
        (format!("Versions built from commit {q}"), &found.commit),
    ];
    html! {
        h1 { "Search" }
        @if q.is_empty() {
            p { "Search for a model (" code { "ns/model" } " or its name), a version (" code { "ns/model@3" } ", "
                code { "ns/model@production" } "), a dataset's SHA-256 or a commit." }
        } @else if found.is_empty() {
            p.empty { "Nothing you may see matches " q { (q) } "." }
        }
        @for m in &found.models {
            p { "Model " a href=(model_url(m.namespace.as_str(), m.name.as_str())) { (m) } }
        }
        @for (title, list) in &hits {
            @if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
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
    }
}

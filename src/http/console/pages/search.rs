//! Search by model, version, alias, dataset or commit.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::super::super::AppState;
use super::super::super::extract::ApiQuery;
use super::super::{Ui, UiError, Viewer, page};
use super::*;
use crate::auth::Read;
use crate::auth::authorize;
use crate::error::Error;
use crate::lineage::LineageHit;
use crate::names::{AliasName, CommitId, ModelName, ModelRef, Namespace, Sha256, VersionNumber};
use crate::page::Page;

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

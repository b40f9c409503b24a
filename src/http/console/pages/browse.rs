//! Namespaces and models: the home page, a namespace, a model.

use axum::extract::State;
use maud::{Markup, html};

use super::super::super::AppState;
use super::super::super::extract::Paging;
use super::super::super::paths::{ModelPath, NsPath};
use super::super::super::views::{ModelView, VersionSummary};
use super::super::{Ui, Viewer, page};
use super::*;
use crate::auth::Read;
use crate::auth::authorize;
use crate::catalog::{AliasMove, ModelPage, NamespacePage, NamespaceRecord, VersionRecord};
use crate::names::{AliasName, ModelRef, Namespace, VersionNumber};
use crate::page::Paged;

pub async fn home(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let list = st.registry.namespaces(&p, &pg).await?;
    done(page(&p, "Namespaces", &[], home_body(&list)))
}

/// The namespaces the viewer reads.
fn home_body(list: &Paged<NamespaceRecord>) -> Markup {
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
    }
}

pub async fn namespace(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(NsPath(ns)): Ui<NsPath>,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &ns)?;
    let shown = st.catalog.namespace_page(&p, &permit, &pg).await?;
    let crumbs = crumbs_of(ns.as_str(), None, None);
    done(page(&p, ns.as_str(), &crumbs, namespace_body(&ns, shown)))
}

/// A namespace's page: its policy and its models.
fn namespace_body(ns: &Namespace, shown: NamespacePage) -> Markup {
    let (name, policy, models) = (ns.as_str(), &shown.policy, shown.models);
    html! {
        h1 { "Namespace " (name) }
        p { (shown.namespace.description) }
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
                                td { @if let Some(v) = m.latest_version { a href=(version_url(name, &m.name, v.get())) { (v) } } @else { "—" } }
                                td { @for (a, v) in &m.aliases { span.alias { (a) " → " (v) } " " } }
                                td { (when(m.created_at)) }
                            }
                        }
                    }
                }
            }
            (next_link(&ns_url(name), &[], models.next_cursor.as_deref()))
        }
    }
}

pub async fn model(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(ModelPath(m)): Ui<ModelPath>,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &m.namespace)?;
    let shown = st.catalog.model_page(&permit, &m.name, &pg).await?;
    let (ns, name) = (m.namespace.as_str(), m.name.as_str());
    let crumbs = crumbs_of(ns, Some(name), None);
    done(page(
        &p,
        &format!("{ns}/{name}"),
        &crumbs,
        model_body(&m, &shown),
    ))
}

/// A model's page, from what the catalog read.
fn model_body(m: &ModelRef, shown: &ModelPage) -> Markup {
    let (ns, name) = (m.namespace.as_str(), m.name.as_str());
    let versions = &shown.versions;
    html! {
        h1 { "Model " (ns) "/" (name) }
        p { (shown.details.model.description) }
        section {
            h2 { "Versions" }
            @if versions.items.is_empty() {
                p.empty { "No version yet." }
            } @else {
                table.versions {
                    thead { tr { th { "Version" } th { "State" } th { "Signatures" } th { "Aliases" } th { "Created" } th { "By" } th { "Sealed" } th { "Root digest" } } }
                    tbody {
                        @for (v, signed) in &versions.items {
                            (version_row(m, &shown.details.aliases, v, *signed))
                        }
                    }
                }
            }
            (next_link(&model_url(ns, name), &[], versions.next_cursor.as_deref()))
        }
        section {
            h2 { "Alias history" }
            (alias_history(m, &shown.history))
        }
        @if !shown.details.aliases.is_empty() {
            (cli(&shown.details.aliases.iter().map(|(a, _)| format!("signet pull {ns}/{name}@{a} ./model")).collect::<Vec<_>>()))
        }
    }
}

fn version_row(
    m: &ModelRef,
    aliases: &[(AliasName, VersionNumber)],
    v: &VersionRecord,
    signed: i64,
) -> Markup {
    let s = VersionSummary::from(v);
    let (ns, name) = (m.namespace.as_str(), m.name.as_str());
    html! {
        tr {
            td { a href=(version_url(ns, name, s.version)) { (s.version) } }
            td { span.state { (s.state) } }
            td { @if signed == 0 { span.empty { "unsigned" } } @else { (signed) } }
            td { @for (a, _) in aliases.iter().filter(|(_, n)| *n == v.version) { span.alias { (a) } " " } }
            td { (when(s.created_at)) }
            td { (s.created_by) }
            td { (when_opt(s.sealed_at)) }
            td { @if let Some(d) = &s.root_digest { (digest(d)) } @else { "—" } }
        }
    }
}

fn alias_history(m: &ModelRef, history: &[AliasMove]) -> Markup {
    let (ns, name) = (m.namespace.as_str(), m.name.as_str());
    html! {
        @if history.is_empty() {
            p.empty { "No alias has been set." }
        } @else {
            ol.timeline {
                @for mv in history {
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
}

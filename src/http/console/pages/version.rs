//! A version: its files, lineage, signatures and gate panel; its lineage graph.

use axum::extract::State;
use maud::{Markup, html};

use super::super::super::AppState;
use super::super::super::extract::VersionPath;
use super::super::super::views::{FileView, VersionView};
use super::super::{Ui, Viewer, graph, page};
use super::*;
use crate::auth::Read;
use crate::auth::authorize;

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
pub(super) fn quarantine_sources(g: &crate::lineage::LineageGraph) -> Vec<(String, String)> {
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

pub(super) fn files_table(files: &[FileView]) -> Markup {
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

pub(super) fn search_url(q: &str) -> String {
    format!("/ui/search?{}", encode(&[("q", q)]))
}

pub(super) fn lineage_facts(l: &serde_json::Value) -> Markup {
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

//! A version: its files, lineage, signatures and gate panel; its lineage graph.

use axum::extract::State;
use maud::{Markup, html};

use super::super::super::AppState;
use super::super::super::paths::VersionPath;
use super::super::super::views::{FileView, VersionView};
use super::super::{Ui, Viewer, graph, page};
use super::*;
use crate::api::{AttestationCheck, CiProvenance, Refusal};
use crate::auth::Read;
use crate::auth::authorize;
use crate::catalog::VersionPage;
use crate::catalog::{Lineage, LineageGraph, SignatureStatus};
use crate::kinds::SignatureState;
use crate::names::{AliasName, ModelRef, VersionNumber};

pub async fn version(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(VersionPath(m, n)): Ui<VersionPath>,
) -> PageResult {
    let permit = authorize::<Read>(&p, &m.namespace)?;
    let shown = st.catalog.version_page(&permit, &p, &m.name, n).await?;
    let (ns, name, v) = (m.namespace.as_str(), m.name.as_str(), n.get());
    let crumbs = crumbs_of(ns, Some(name), Some(v));
    done(page(
        &p,
        &format!("{ns}/{name}@{v}"),
        &crumbs,
        version_body(shown),
    ))
}

/// A version's page, from what the catalog read.
fn version_body(shown: VersionPage) -> Markup {
    let VersionPage {
        panel,
        lineage,
        graph,
    } = shown;
    let signatures = panel.details.verification.signatures.clone();
    let sources = graph.as_ref().map(quarantine_sources).unwrap_or_default();
    let view = VersionView::from(panel.details);
    let (ns, name, v) = (
        view.namespace.as_str(),
        view.model.as_str(),
        view.summary.version,
    );
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
            (gate_table(&panel.gates))
            @if view.quarantined { (quarantine_note(&version_url(ns, name, v), &sources)) }
        }
        section {
            h2 { "Signatures" }
            (signatures_table(&signatures))
        }
        section { h2 { "Files" } (files_table(&view.files)) }
        @if let Some(p) = &view.provenance { (provenance_facts(p)) }
        section {
            h2 { "Lineage" }
            @match &lineage {
                Some(l) => { (lineage_facts(l)) }
                None => { pre.json { (serde_json::to_string_pretty(&view.lineage).unwrap_or_default()) } }
            }
        }
        section {
            h2 { "Metadata" }
            pre.json { (serde_json::to_string_pretty(&view.metadata).unwrap_or_default()) }
        }
        section.pull {
            h2 { "Deployers" }
            @if panel.pull.is_empty() {
                p { "Deployers may pull this version now." }
            } @else {
                p { "Deployers cannot pull this version now:" }
                (refusal_list(&panel.pull))
            }
        }
        (cli(&commands(ns, name, v, panel.pull.is_empty())))
    }
}

/// Where the CI job that published a version ran (trusted publishing).
fn provenance_facts(p: &CiProvenance) -> Markup {
    let rows = [
        ("Publisher", Some(&p.publisher)),
        ("Issuer", Some(&p.issuer)),
        ("Repository", p.repository.as_ref()),
        ("Workflow", p.workflow_ref.as_ref()),
        ("Ref", p.git_ref.as_ref()),
        ("Commit", p.sha.as_ref()),
        ("Run", p.run_id.as_ref()),
        ("Attempt", p.run_attempt.as_ref()),
        ("Job", p.job_id.as_ref()),
        ("Actor", p.actor.as_ref()),
    ];
    html! {
        section.provenance {
            h2 { "CI provenance" }
            p { "Published by a CI job through trusted publishing; its signed statement covers this." }
            dl.facts {
                @for (label, value) in rows {
                    @if let Some(v) = value { dt { (label) } dd { code { (v) } } }
                }
            }
        }
    }
}

/// The commands a version's page offers: the pull only where a deployer could
/// use it.
fn commands(ns: &str, name: &str, v: i64, pullable: bool) -> Vec<String> {
    let mut out = vec![
        format!("signet sign {ns}/{name}@{v} --key KEY"),
        format!("signet promote {ns}/{name}@{v} ALIAS --reason TEXT"),
    ];
    if pullable {
        out.push(format!("signet pull {ns}/{name}@{v} ./model"));
    }
    out
}

/// Each reason with what failed and how to clear it.
fn refusal_list(reasons: &[Refusal]) -> Markup {
    html! {
        ul.reasons {
            @for r in reasons {
                li {
                    code.reason { (r.reason) } " " (r.message)
                    @if let Some(a) = &r.attestation { (attestation_check(a)) }
                }
            }
        }
    }
}

/// What an attestation rule found: the conditions that do not hold, and the
/// attestations that do not count.
fn attestation_check(a: &AttestationCheck) -> Markup {
    html! {
        ul.plain {
            @for u in &a.unmet { li { "Condition " code { (u.condition) } ": " (u.outcome) } }
            @for n in &a.not_counted {
                li {
                    "Attestation " (digest(&n.id.to_string())) " by "
                    (if n.key_name.is_empty() { n.keyid.as_str() } else { n.key_name.as_str() })
                    ": " code { (n.status) }
                }
            }
        }
    }
}

/// Whether promotion to each alias would pass now, and why not.
fn gate_table(gates: &[(AliasName, Vec<Refusal>)]) -> Markup {
    html! {
        @if gates.is_empty() {
            p.empty { "The namespace's policy names no alias." }
        } @else {
            table {
                thead { tr { th { "Alias" } th { "Would promotion pass?" } th { "Reasons it would not" } } }
                tbody {
                    @for (alias, reasons) in gates {
                        tr {
                            td { span.alias { (alias) } }
                            td { (badge(reasons.is_empty(), "passes", "refused")) }
                            td { (refusal_list(reasons)) }
                        }
                    }
                }
            }
        }
    }
}

/// Where a quarantined version's quarantine comes from.
fn quarantine_note(url: &str, sources: &[(String, String)]) -> Markup {
    html! {
        p { "This version is quarantined. " a href="/ui/quarantines" { "See the quarantines" } " and the "
            a href={ (url) "/lineage" } { "lineage graph" } "." }
        h3 { "Where the quarantine comes from" }
        ul.plain {
            @if sources.is_empty() { li { "A quarantine of this version itself." } }
            @for (text, href) in sources { li { a href=(href) { (text) } } }
        }
    }
}

/// Each stored signature, with its key's name and algorithm and what it is
/// worth now.
fn signatures_table(signatures: &[SignatureStatus]) -> Markup {
    html! {
        @if signatures.is_empty() {
            p.empty { "Unsigned." }
        } @else {
            table {
                thead { tr { th { "Key" } th { "Key id" } th { "Algorithm" } th { "Received" } th { "Status" } } }
                tbody {
                    @for s in signatures {
                        @let state = s.state();
                        tr {
                            td { (s.key_name) }
                            td { (digest(s.keyid.as_str())) }
                            td { (s.key_algorithm.map_or("unknown key", |a| a.as_str())) }
                            td { (when(s.received_at)) }
                            td {
                                (badge(state == SignatureState::Verified, "verified", state.as_str()))
                                @if s.outcome.as_ref().is_ok_and(|v| v.content_only()) { " " span.badge.warn { "content only" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What makes the focus of `g` quarantined, as far as its graph shows: the
/// quarantined datasets and commits it or an ancestor was built from, and its
/// quarantined ancestors (nearest first). Empty: a quarantine of the version.
pub(super) fn quarantine_sources(g: &LineageGraph) -> Vec<(String, String)> {
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

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub(super) fn lineage_facts(l: &Lineage) -> Markup {
    html! {
        dl.facts {
            dt { "Code" }
            dd {
                @let code = l.code.clone().unwrap_or_default();
                @if let Some(repo) = &code.repo { (repo) " " }
                @if let Some(c) = &code.commit { a href=(search_url(c.as_str())) { code { (c) } } } @else { "—" }
            }
            dt { "Data" }
            dd {
                @if l.data.is_empty() { "—" }
                ul.plain {
                    @for d in &l.data {
                        li {
                            @if let Some(n) = &d.name { (n) " " }
                            a href=(search_url(&d.sha256.to_hex())) { (digest(&d.sha256.to_hex())) }
                            @if let Some(u) = &d.uri { " " span.uri { (u) } }
                        }
                    }
                }
            }
            dt { "Parents" }
            dd {
                @if l.parents.is_empty() { "—" }
                @for par in &l.parents {
                    a href=(version_url(par.model.namespace.as_str(), par.model.name.as_str(), par.version.get())) {
                        (par.model) "@" (par.version) } " "
                }
            }
            dt { "Environment" }
            dd { @match &l.environment { Some(e) => { pre.json { (pretty(e)) } } None => { "—" } } }
            dt { "Run" }
            dd { @match &l.run { Some(r) => { pre.json { (pretty(r)) } } None => { "—" } } }
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
    let crumbs = crumbs_of(ns, Some(name), Some(v));
    done(page(
        &p,
        &format!("Lineage of {m}@{n}"),
        &crumbs,
        lineage_body(&m, n, &g),
    ))
}

/// A version's lineage graph, with what it counts.
fn lineage_body(m: &ModelRef, n: VersionNumber, g: &LineageGraph) -> Markup {
    let tainted = g.versions.iter().filter(|n| n.quarantined).count();
    html! {
        h1 { "Lineage of " (m) "@" (n) }
        p {
            (count(g.versions.len() - 1, "related version")) " you may see, "
            (count(g.datasets.len(), "dataset")) ", " (count(g.commits.len(), "commit")) ". "
            @if tainted > 0 { span.badge.bad { (count(tainted, "version")) " quarantined" } }
        }
        figure.graph {
            (graph::draw(g))
            figcaption { "Base models on the left, fine-tunes on the right; each dataset and commit "
                "just before the first version built from it. Quarantined nodes are outlined in red; "
                "each node links to its page." }
        }
        (cli(&[format!("signet lineage version {m}@{n}")]))
    }
}

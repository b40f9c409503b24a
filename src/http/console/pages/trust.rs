//! Keys and quarantines.

use axum::extract::State;
use maud::html;

use super::super::super::AppState;
use super::super::super::extract::Paging;
use super::super::super::quarantines::QuarantineView;
use super::super::{Ui, Viewer, page};
use super::*;
use crate::api::KeyView;
use crate::auth::authorize_global;
use crate::auth::{Global, Manage, Read};
use crate::catalog::LineageHit;
use crate::kinds::QuarantineTarget;

/// Versions listed beside each key (all are counted).
pub(super) const KEY_VERSIONS_SHOWN: usize = 5;

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
pub(super) const AFFECTED_SHOWN: usize = 20;

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

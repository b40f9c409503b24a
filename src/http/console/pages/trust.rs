//! Keys and quarantines.

use axum::extract::State;
use maud::{Markup, html};

use super::super::super::AppState;
use super::super::super::extract::Paging;
use super::super::{Ui, Viewer, page};
use super::*;
use crate::api::{KeyView, QuarantineView};
use crate::auth::authorize_global;
use crate::auth::{Global, Manage, Read};
use crate::catalog::{KeyRow, QuarantineRow, VersionRecord};
use crate::kinds::QuarantineTarget;
use crate::page::Paged;

/// Versions listed beside each key (all are counted).
pub(super) const KEY_VERSIONS_SHOWN: usize = 5;

pub async fn keys(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    authorize_global::<Read>(&p, Global::Public)?;
    let rows = st.catalog.keys_page(&p, &pg).await?;
    done(page(&p, "Keys", &[], keys_body(rows)))
}

fn keys_body(rows: Paged<KeyRow>) -> Markup {
    let next = rows.next_cursor.clone();
    let rows: Vec<(KeyView, Vec<VersionRecord>)> = rows
        .items
        .into_iter()
        .map(|r| (KeyView::from(r.key), r.signed))
        .collect();
    html! {
        h1 { "Signing keys" }
        @if rows.is_empty() {
            p.empty { "No key you may see." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Key id" } th { "Algorithm" } th { "Scope" } th { "Expires" } th { "Registered" } th { "Revoked" } th { "Versions signed" } } }
                tbody { @for (k, signed) in &rows { (key_row(k, signed)) } }
            }
        }
        (next_link("/ui/keys", &[], next.as_deref()))
        (cli(&["signet key register NAME.pub --namespace NS".to_owned()]))
    }
}

fn key_row(k: &KeyView, signed: &[VersionRecord]) -> Markup {
    html! {
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

pub async fn quarantines(
    State(st): State<AppState>,
    Viewer(p): Viewer,
    Ui(Paging(_, pg)): Ui<Paging>,
) -> PageResult {
    let permit = authorize_global::<Manage>(&p, Global::AnyNamespace)?;
    let rows = st.catalog.quarantines_page(&permit, &p, &pg).await?;
    done(page(&p, "Quarantines", &[], quarantines_body(rows)))
}

fn quarantines_body(rows: Paged<QuarantineRow>) -> Markup {
    html! {
        h1 { "Quarantines" }
        @if rows.items.is_empty() {
            p.empty { "No quarantine." }
        }
        @for row in rows.items.iter() {
            (quarantine(row))
        }
        (next_link("/ui/quarantines", &[], rows.next_cursor.as_deref()))
    }
}

fn quarantine(row: &QuarantineRow) -> Markup {
    let blocked = match &row.quarantine.target {
        QuarantineTarget::Version(m, v) => {
            Some(version_url(m.namespace.as_str(), m.name.as_str(), v.get()))
        }
        _ => None,
    };
    let q = QuarantineView::from(row.quarantine.clone());
    html! {
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
            @if let Some(url) = &blocked {
                p { "Blocks " a href=(url) { (q.value) }
                    " and every version built from it (" a href={ (url) "/lineage" } { "its lineage" } ")." }
            } @else if row.affected.is_empty() {
                p.empty { "No version you may see was built from it." }
            } @else {
                h3 { "Versions built from it" }
                ul.plain {
                    @for (v, aliases) in &row.affected {
                        li {
                            a href=(version_url(v.namespace.as_str(), v.model.as_str(), v.version.get())) { (v.namespace) "/" (v.model) "@" (v.version) }
                            @for a in aliases { " " span.alias { (a) } }
                        }
                    }
                }
            }
        }
    }
}

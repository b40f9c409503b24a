//! The access log: search, export and the chain verified.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::super::AppState;
use super::super::super::audit::AuditFilters;
use super::super::super::extract::Paging;
use super::super::{UiError, Viewer, page};
use super::*;
use crate::auth::authorize_global;
use crate::auth::{Global, ReadAudit};
use crate::catalog::{AuditPage as CatalogAudit, AuditScope, ChainedEvent};

pub(super) fn pairs_of(query: Option<&str>) -> Result<Vec<(String, String)>, UiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| UiError::new(StatusCode::BAD_REQUEST, "invalid query string"))
}

pub(super) const AUDIT_FILTERS: [(&str, &str); 8] = [
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
    let Paging(filters, pg) = Paging::<AuditFilters>::of_form(&pairs)?;
    let (namespace, q) = filters.into_query();
    let shown = st.catalog.audit_page(&p, namespace, &q, &pg).await?;
    // The form shows the namespace read, which may be the viewer's first.
    if let Some(ns) = &shown.namespace {
        pairs.retain(|(k, _)| k != "namespace");
        pairs.push(("namespace".into(), ns.to_string()));
    }
    done(page(&p, "Audit log", &[], audit_body(&pairs, &shown)))
}

/// The access log's page: the chain's head, the filters and the events.
fn audit_body(pairs: &[(String, String)], shown: &CatalogAudit) -> Markup {
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
    html! {
        h1 { "Audit log" }
        @if let Some(head) = &shown.head {
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
        (events_table(&shown.events.items))
        (next_link("/ui/audit", pairs, shown.events.next_cursor.as_deref()))
    }
}

fn events_table(events: &[ChainedEvent]) -> Markup {
    html! {
        @if events.is_empty() {
            p.empty { "No event matches." }
        } @else {
            table.audit {
                thead { tr { th { "#" } th { "Time (UTC)" } th { "Principal" } th { "Action and resource" } th { "Namespace" } th { "Status" } th { "Outcome" } th { "Request" } } }
                tbody {
                    @for c in events {
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
    }
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
    let scope = AuditScope::All(authorize_global::<ReadAudit>(&p, Global::All)?);
    let report = st.auditing.verify(&scope).await?;
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

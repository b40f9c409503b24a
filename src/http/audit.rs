//! The access log: query, export, verify.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, next_cursor};
use crate::audit::{ChainedEvent, Head, Verifier, VerifyReport};
use crate::auth::{Action, Principal, Resource, authorize};
use crate::error::Error;
use crate::names::Namespace;
use crate::store::AuditFilter;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub principal: Option<String>,
    /// `METHOD /route/{template}`, e.g. `GET /v1/models/{ns}/{model}/versions/{v}/files/{path}`.
    pub action: Option<String>,
    /// Required unless the caller audits globally (admin, global auditor).
    pub namespace: Option<String>,
    /// `namespace/model`.
    pub model: Option<String>,
    /// `allowed`, `denied` or `error`.
    pub outcome: Option<String>,
    /// RFC 3339; events at or after.
    pub since: Option<String>,
    /// RFC 3339; events before.
    pub until: Option<String>,
    pub request_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<ChainedEvent>,
    pub next_cursor: Option<String>,
}

fn when(s: &Option<String>) -> Result<Option<String>, ApiError> {
    s.as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| crate::audit::timestamp(d.with_timezone(&chrono::Utc)))
                .map_err(|_| ApiError::invalid("since and until are RFC 3339 times"))
        })
        .transpose()
}

/// Checks who may read which part of the log and turns the query into a filter.
fn filter(p: &Principal, q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    match &q.namespace {
        Some(ns) => {
            authorize(
                p,
                Action::ReadAudit,
                Resource::Namespace(&Namespace::parse(ns)?),
            )?;
        }
        None => match authorize(p, Action::ReadAudit, Resource::Global) {
            Ok(_) => {}
            Err(Error::Forbidden)
                if authorize(p, Action::ReadAudit, Resource::AnyNamespace).is_ok() =>
            {
                return Err(ApiError::invalid(
                    "namespace is required unless you audit all namespaces",
                ));
            }
            Err(e) => return Err(e.into()),
        },
    }
    if let Some(o) = &q.outcome
        && !matches!(o.as_str(), "allowed" | "denied" | "error")
    {
        return Err(ApiError::invalid("outcome is allowed, denied or error"));
    }
    Ok(AuditFilter {
        principal: q.principal.clone(),
        action: q.action.clone(),
        namespace: q.namespace.clone(),
        model: q.model.clone(),
        outcome: q.outcome.clone(),
        since: when(&q.since)?,
        until: when(&q.until)?,
        request_id: q.request_id.clone(),
    })
}

/// Events, newest first (auditors, maintainers of the namespace, admins).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let f = filter(&p, &q)?;
    let page = super::extract::PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let cursor = page.cursor()?;
    let before = if cursor.is_empty() {
        i64::MAX
    } else {
        cursor
            .parse()
            .map_err(|_| ApiError::invalid("invalid cursor"))?
    };
    let items = st.registry.store.query_audit(&f, before, limit).await?;
    let next = next_cursor(
        items.len() as i64 == limit,
        items.last().map(|e| e.event.seq.to_string()),
    );
    Ok(Json(AuditPage {
        items,
        next_cursor: next,
    }))
}

/// The same events as JSON Lines, streamed page by page (never all in memory).
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "JSON Lines, newest first", content_type = "application/x-ndjson"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let f = filter(&p, &q)?;
    let store = st.registry.store.clone();
    let pages = futures::stream::unfold(Some(i64::MAX), move |before| {
        let (store, f) = (store.clone(), f.clone());
        async move {
            let before = before?;
            match store.query_audit(&f, before, 1000).await {
                Ok(batch) if batch.is_empty() => None,
                Ok(batch) => {
                    let next = (batch.len() == 1000).then(|| batch[batch.len() - 1].event.seq);
                    let mut text = String::new();
                    for e in &batch {
                        text.push_str(&serde_json::to_string(e).unwrap_or_default());
                        text.push('\n');
                    }
                    Some((Ok::<_, Error>(bytes::Bytes::from(text)), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    let mut resp = Body::from_stream(pages.boxed()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(resp)
}

/// Recomputes the whole chain from its anchor (global auditors, admins).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = 403, body = ErrorBody)))]
pub async fn verify(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Json<VerifyReport>, ApiError> {
    authorize(&p, Action::ReadAudit, Resource::Global)?;
    let store = &st.registry.store;
    let head = store.audit_head().await?;
    let mut v = Verifier::new(head.anchor_seq, &head.anchor_hash);
    let mut first_bad = None;
    let mut after = head.anchor_seq;
    'scan: loop {
        let batch = store.audit_after(after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.event.seq;
        for e in &batch {
            if let Err(seq) = v.feed(e) {
                first_bad = Some(seq);
                break 'scan;
            }
        }
    }
    // Events missing at the end, or a tip rewritten, show against the head row.
    if first_bad.is_none() && (v.expect_seq - 1 != head.seq || v.prev_hash != head.hash) {
        first_bad = Some(v.expect_seq);
    }
    Ok(Json(VerifyReport {
        ok: first_bad.is_none(),
        checked: v.checked,
        head: Head {
            seq: head.seq,
            hash: head.hash,
        },
        first_bad_seq: first_bad,
    }))
}

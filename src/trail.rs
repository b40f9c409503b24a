//! A request's audit trail: what the request has told the access log about
//! itself so far.
//!
//! Dependency rule: a small module below `auth` and `audit`: the HTTP layer opens
//! a trail per `/v1` request, the principal carries it, permits carry it into
//! domain writes (as the store's `Pending` event), and `audit` composes the
//! events of answers from it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::kinds::Outcome;
use crate::names::Namespace;
use crate::store::{AuditEvent, Pending, timestamp};

/// What the request has told the log so far.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub request_id: String,
    pub action: String,
    pub resource: String,
    pub client_addr: Option<String>,
    pub principal: Option<String>,
    pub token_id: Option<String>,
    pub namespace: Option<String>,
    pub model: Option<String>,
    /// The status a committed change answers with (the route's success status).
    pub success_status: u16,
    /// What identifies the action beyond the path (bytes sent, range).
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// The registry's policy refused the request (see [`Trail::refused`]).
    pub refused_by_policy: bool,
}

/// Most bytes of the path an event records; a longer one is cut there and
/// marked. With the detail's bound, an event's line stays within what one
/// entry of the transparency log holds (64 KiB).
pub const MAX_RESOURCE: usize = 4096;
/// Most bytes of detail an event records; more is replaced by its size.
pub const MAX_DETAIL: usize = 16 * 1024;

/// `s` cut to at most `max` bytes on a character boundary, marked with how
/// long it was.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes]", &s[..end], s.len())
}

impl Context {
    /// The event for a request that answered `status`; `refused` when
    /// authorization said no. The path and the detail are bounded
    /// ([`MAX_RESOURCE`], [`MAX_DETAIL`]).
    pub fn event(&self, status: u16, refused: bool, at: DateTime<Utc>) -> AuditEvent {
        let detail = serde_json::Value::Object(self.detail.clone()).to_string();
        let detail = match detail.len() <= MAX_DETAIL {
            true => detail,
            false => serde_json::json!({"omitted_bytes": detail.len()}).to_string(),
        };
        AuditEvent {
            seq: 0,
            at: timestamp(at),
            request_id: self.request_id.clone(),
            principal: self.principal.clone(),
            token_id: self.token_id.clone(),
            action: self.action.clone(),
            namespace: self.namespace.clone(),
            model: self.model.clone(),
            resource: bounded(&self.resource, MAX_RESOURCE),
            outcome: Outcome::of(status, refused, self.refused_by_policy),
            status: i32::from(status),
            client_addr: self.client_addr.clone(),
            detail,
        }
    }
}

/// One request's trail. The HTTP layer opens it and writes what it learns from
/// the request (route, path, principal); a change commits its event through
/// [`Trail::pending`]; whatever did not commit an event is logged by the HTTP
/// layer when the answer is ready.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    context: Arc<Mutex<Context>>,
    committed: Arc<AtomicBool>,
}

impl Trail {
    pub fn open(context: Context) -> Self {
        Self {
            context: Arc::new(Mutex::new(context)),
            committed: Arc::default(),
        }
    }

    /// Adds to what the request has told the log.
    pub fn note(&self, f: impl FnOnce(&mut Context)) {
        f(&mut self.context.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Adds what identifies the action beyond its path to the request's event.
    pub fn record(&self, key: &str, value: serde_json::Value) {
        self.note(|c| {
            c.detail.insert(key.to_owned(), value);
        });
    }

    /// Marks the request as refused by the registry's policy, with the
    /// reasons' codes: its event's outcome is `refused`.
    pub fn refused(&self, reasons: Vec<String>) {
        self.note(|c| {
            c.refused_by_policy = true;
            c.detail.insert("refused".to_owned(), reasons.into());
        });
    }

    pub fn context(&self) -> Context {
        self.context
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The event a change of this request commits with, filed under `namespace`
    /// unless the path already named one. Its time is set when it commits.
    pub fn pending(&self, namespace: Option<&Namespace>) -> Pending {
        let mut ctx = self.context();
        if ctx.namespace.is_none() {
            ctx.namespace = namespace.map(Namespace::to_string);
        }
        let status = ctx.success_status;
        Pending::new(ctx.event(status, false, Utc::now()), self.committed.clone())
    }

    /// Whether a change already committed this request's event.
    pub fn committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_records_a_bounded_path_and_detail() {
        let mut c = Context {
            resource: format!("/v1/models/{}", "é".repeat(5000)),
            ..Default::default()
        };
        c.detail
            .insert("ids".into(), vec!["x".repeat(100); 400].into());
        let e = c.event(404, false, Utc::now());
        assert!(
            e.resource.len() <= MAX_RESOURCE + 20,
            "{}",
            e.resource.len()
        );
        assert!(
            e.resource.ends_with("…[10011 bytes]"),
            "{}",
            &e.resource[4000..]
        );
        assert_eq!(e.detail, r#"{"omitted_bytes":41209}"#);
        c.resource = "/v1/whoami".into();
        c.detail.clear();
        let e = c.event(200, false, Utc::now());
        assert_eq!(
            (e.resource.as_str(), e.detail.as_str()),
            ("/v1/whoami", "{}")
        );
    }
}

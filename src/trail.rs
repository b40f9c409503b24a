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

impl Context {
    /// The event for a request that answered `status`; `refused` when
    /// authorization said no.
    pub fn event(&self, status: u16, refused: bool, at: DateTime<Utc>) -> AuditEvent {
        AuditEvent {
            seq: 0,
            at: timestamp(at),
            request_id: self.request_id.clone(),
            principal: self.principal.clone(),
            token_id: self.token_id.clone(),
            action: self.action.clone(),
            namespace: self.namespace.clone(),
            model: self.model.clone(),
            resource: self.resource.clone(),
            outcome: Outcome::of(status, refused, self.refused_by_policy),
            status: i32::from(status),
            client_addr: self.client_addr.clone(),
            detail: serde_json::Value::Object(self.detail.clone()).to_string(),
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

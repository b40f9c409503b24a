//! Alerts on extraction-like access: one principal downloading more distinct
//! versions, or more bytes, across models within a window than its rule
//! allows (`SIGNET_EXTRACTION_ALERT`, larger rules per role).
//!
//! Counted from the access log, so downloads spread over replicas count
//! together: the watch reads the log from a position kept in the database
//! (as the stream to a SIEM does), one replica at a time under a lease; a
//! replica that takes over first reads the window back from the log, the
//! alerts already raised included, so it neither misses nor repeats one. An
//! alert is an event of the log itself (`ALERT extraction`), one per
//! namespace involved, with that namespace's figures: webhooks subscribed to
//! `dev.signet.alert.extraction` and the SIEM stream get it from there. A log
//! line and a metric go with it. At most one alert per principal per window.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::chain::ChainedEvent;
use crate::error::{Error, Result};
use crate::kinds::{Outcome, Role};
use crate::limits::ExtractionAlert;
use crate::names::PrincipalName;
use crate::store::{AuditEvent, AuditFilter, AuditLog, AuditStreams, Bindings, Order, timestamp};

/// The action of an alert's event.
pub const ALERT_ACTION: &str = "ALERT extraction";
/// The name the watch's position is kept under (beside the SIEM streams').
const KEY: &str = "watch:extraction";
const BATCH: i64 = 500;
const LEASE: Duration = Duration::from_secs(30);
/// How long a principal's rule (from its roles) is kept before it is read
/// again.
const RULE_TTL: chrono::Duration = chrono::Duration::seconds(60);
/// Most versions an alert lists.
const LISTED: usize = 50;

/// The configured rules.
#[derive(Debug, Clone)]
pub struct Rules {
    pub principal: ExtractionAlert,
    pub by_role: HashMap<Role, ExtractionAlert>,
    pub window: Duration,
}

impl Rules {
    /// Whether any rule can raise an alert.
    pub fn is_off(&self) -> bool {
        self.principal.is_off() && self.by_role.values().all(ExtractionAlert::is_off)
    }
}

pub struct ExtractionWatch {
    events: Arc<dyn AuditLog>,
    streams: Arc<dyn AuditStreams>,
    bindings: Arc<dyn Bindings>,
    rules: Rules,
    owner: String,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Whether the window was read back under the current lease.
    rebuilt: bool,
    principals: HashMap<String, Seen>,
}

#[derive(Default)]
struct Seen {
    downloads: VecDeque<Download>,
    alerted_at: Option<DateTime<Utc>>,
    rule: Option<(ExtractionAlert, DateTime<Utc>)>,
}

struct Download {
    at: DateTime<Utc>,
    /// `ns/model@v`.
    version: String,
    namespace: String,
    bytes: u64,
}

impl ExtractionWatch {
    pub fn new(
        events: Arc<dyn AuditLog>,
        streams: Arc<dyn AuditStreams>,
        bindings: Arc<dyn Bindings>,
        rules: Rules,
    ) -> Self {
        Self {
            events,
            streams,
            bindings,
            rules,
            owner: uuid::Uuid::now_v7().to_string(),
            state: Default::default(),
        }
    }

    /// Watches until the last holder of `self` is gone, then gives up the
    /// lease so another replica goes on at once.
    pub fn spawn(self: &Arc<Self>) {
        let (streams, owner) = (self.streams.clone(), self.owner.clone());
        super::turns::spawn_turns(
            self,
            |w| Box::pin(w.turn()),
            |_, e| tracing::warn!(error = %e, "extraction alerts: a turn failed; trying again"),
            move || {
                Box::pin(async move {
                    let _ = streams.release_stream(KEY, &owner).await;
                })
            },
        );
    }

    /// One turn: takes the lease, reads the window back if this replica
    /// just took it, then the events after the position; raises the alerts
    /// they call for and records the position. Whether more events wait.
    pub async fn turn(&self) -> Result<bool> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).map_err(Error::internal)?;
        let mut state = self.state.lock().await;
        let Some(mut position) = self
            .streams
            .lease_stream(KEY, &self.owner, now, until)
            .await?
        else {
            state.rebuilt = false;
            return Ok(false);
        };
        if position == 0 {
            // First use: from now on, not over the log's history.
            position = self.events.audit_head().await?.seq;
            self.streams
                .advance_stream(KEY, &self.owner, position)
                .await?;
        }
        if !state.rebuilt {
            self.rebuild(&mut state, position, now).await?;
            state.rebuilt = true;
        }
        let events = self.events.audit_after(position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.event.seq) else {
            return Ok(false);
        };
        let mut alerts = Vec::new();
        for e in &events {
            alerts.extend(self.feed(&mut state, e, true).await?);
        }
        if !alerts.is_empty() {
            self.events.append_audit(alerts).await?;
        }
        if !self.streams.advance_stream(KEY, &self.owner, last).await? {
            state.rebuilt = false;
            return Ok(false);
        }
        Ok(events.len() as i64 == BATCH)
    }

    /// Reads the window before `position` back from the log, raising
    /// nothing: downloads and alerts as they were.
    async fn rebuild(&self, state: &mut State, position: i64, now: DateTime<Utc>) -> Result<()> {
        state.principals.clear();
        let window = chrono::Duration::from_std(self.rules.window).map_err(Error::internal)?;
        let filter = AuditFilter {
            since: Some(now - window),
            ..Default::default()
        };
        let mut from = 0;
        loop {
            let page = self
                .events
                .query_audit(&filter, from, Order::OldestFirst, BATCH)
                .await?;
            for e in page.iter().filter(|e| e.event.seq <= position) {
                self.feed(state, e, false).await?;
            }
            match page.last() {
                Some(l) if page.len() as i64 == BATCH && l.event.seq < position => {
                    from = l.event.seq;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Takes one event into the window; with `raise`, the alerts it calls
    /// for.
    async fn feed(
        &self,
        state: &mut State,
        e: &ChainedEvent,
        raise: bool,
    ) -> Result<Vec<AuditEvent>> {
        let ev = &e.event;
        let Some(principal) = &ev.principal else {
            return Ok(Vec::new());
        };
        let at = DateTime::parse_from_rfc3339(&ev.at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(Error::internal)?;
        if ev.action == ALERT_ACTION {
            let seen = state.principals.entry(principal.clone()).or_default();
            seen.alerted_at = seen.alerted_at.max(Some(at));
            return Ok(Vec::new());
        }
        let Some(download) = download_of(ev, at) else {
            return Ok(Vec::new());
        };
        let window = chrono::Duration::from_std(self.rules.window).map_err(Error::internal)?;
        let seen = state.principals.entry(principal.clone()).or_default();
        seen.downloads.push_back(download);
        while seen.downloads.front().is_some_and(|d| d.at <= at - window) {
            seen.downloads.pop_front();
        }
        if !raise || seen.alerted_at.is_some_and(|t| t > at - window) {
            return Ok(Vec::new());
        }
        let rule = match seen.rule {
            Some((rule, read)) if read > at - RULE_TTL => rule,
            _ => {
                let rule = self.rule_of(principal).await?;
                seen.rule = Some((rule, at));
                rule
            }
        };
        let versions: BTreeSet<&str> = seen.downloads.iter().map(|d| d.version.as_str()).collect();
        let bytes: u64 = seen.downloads.iter().map(|d| d.bytes).sum();
        if !rule.exceeded_by(bytes, versions.len() as u64) {
            return Ok(Vec::new());
        }
        let alerts = alerts(principal, &seen.downloads, &rule, self.rules.window, at);
        seen.alerted_at = Some(at);
        let namespaces: Vec<&str> = alerts
            .iter()
            .filter_map(|a| a.namespace.as_deref())
            .collect();
        tracing::warn!(
            principal = %principal,
            versions = versions.len(),
            bytes,
            namespaces = ?namespaces,
            "extraction-like access: an alert to the namespaces' webhooks"
        );
        crate::metrics::extraction_alert();
        Ok(alerts)
    }

    /// The rule of a principal: the most generous of its roles', or every
    /// principal's.
    async fn rule_of(&self, principal: &str) -> Result<ExtractionAlert> {
        let Ok(name) = PrincipalName::parse(principal) else {
            return Ok(self.rules.principal);
        };
        Ok(self
            .bindings
            .roles_of(&name)
            .await?
            .iter()
            .filter_map(|b| self.rules.by_role.get(&b.role).copied())
            .reduce(ExtractionAlert::most_generous)
            .unwrap_or(self.rules.principal))
    }
}

/// A download the event records: an allowed one that served bytes of a
/// version (the API's files and the OCI face's blobs alike).
fn download_of(ev: &AuditEvent, at: DateTime<Utc>) -> Option<Download> {
    if ev.outcome != Outcome::Allowed {
        return None;
    }
    let detail: serde_json::Value = serde_json::from_str(&ev.detail).ok()?;
    let bytes = detail.get("bytes")?.as_u64()?;
    let version = detail.get("version")?.as_i64()?;
    let model = ev.model.as_deref()?;
    let namespace = model.split_once('/')?.0.to_owned();
    Some(Download {
        at,
        version: format!("{model}@{version}"),
        namespace,
        bytes,
    })
}

/// One alert per namespace the window's downloads touched, each with that
/// namespace's figures and the totals.
fn alerts(
    principal: &str,
    downloads: &VecDeque<Download>,
    rule: &ExtractionAlert,
    window: Duration,
    at: DateTime<Utc>,
) -> Vec<AuditEvent> {
    let mut by_ns: BTreeMap<&str, (BTreeSet<&str>, u64)> = BTreeMap::new();
    for d in downloads {
        let e = by_ns.entry(d.namespace.as_str()).or_default();
        e.0.insert(d.version.as_str());
        e.1 += d.bytes;
    }
    let total_versions: BTreeSet<&str> = downloads.iter().map(|d| d.version.as_str()).collect();
    let total_bytes: u64 = downloads.iter().map(|d| d.bytes).sum();
    let since = downloads.front().map_or(at, |d| d.at);
    by_ns
        .into_iter()
        .map(|(ns, (versions, bytes))| {
            let detail = serde_json::json!({
                "versions": versions.len(),
                "bytes": bytes,
                "pulled": versions.iter().take(LISTED).collect::<Vec<_>>(),
                "total_versions": total_versions.len(),
                "total_bytes": total_bytes,
                "rule": {"bytes": rule.bytes, "versions": rule.versions},
                "window_secs": window.as_secs(),
                "since": timestamp(since),
            });
            AuditEvent {
                seq: 0,
                at: timestamp(Utc::now()),
                request_id: uuid::Uuid::now_v7().to_string(),
                principal: Some(principal.to_owned()),
                token_id: None,
                action: ALERT_ACTION.to_owned(),
                namespace: Some(ns.to_owned()),
                model: None,
                resource: format!("alerts/extraction/{principal}"),
                outcome: Outcome::Allowed,
                status: 200,
                client_addr: None,
                detail: detail.to_string(),
            }
        })
        .collect()
}

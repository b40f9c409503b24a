//! Process metrics, exposed in the OpenMetrics text format on their own listen
//! address (`SIGNET_METRICS_LISTEN`), never on the API port.
//!
//! The families are process-wide, like the process they describe. Recording is
//! off until [`enable`] is called (by `serve` when a metrics address is set): a
//! disabled recorder costs one relaxed atomic load per call.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::store::PoolUsage;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts recording (idempotent).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether recording is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The route template (`/v1/models/{ns}/{model}`), never the raw path: the
    /// label set stays as small as the API.
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabel {
    destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabel {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    requests: HistogramFamily<RequestLabels>,
    uploaded: Counter,
    downloaded: Counter,
    verifications: Family<ResultLabel, Counter>,
    refusals: Family<ReasonLabel, Counter>,
    audit_append: Histogram,
    audit_batch: Histogram,
    pool: Family<PoolLabel, Gauge>,
    pool_max: Gauge,
    integrity_failures: Counter,
    limited: Family<LimitLabel, Counter>,
    stream_delivered: Family<DestinationLabel, Counter>,
    stream_errors: Family<DestinationLabel, Counter>,
    stream_lag: Family<DestinationLabel, Gauge>,
    webhook_attempts: Family<AttemptLabel, Counter>,
    extraction_alerts: Counter,
}

fn latency_buckets() -> Histogram {
    // 0.25 ms … 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("signet");
    let requests: HistogramFamily<RequestLabels> = Family::new_with_constructor(latency_buckets);
    registry.register_with_unit(
        "http_request_duration",
        "Time to answer a request, by method, route template and status class (streamed bodies: until the head is sent)",
        Unit::Seconds,
        requests.clone(),
    );
    let uploaded = Counter::default();
    registry.register_with_unit(
        "uploaded",
        "Artifact bytes accepted and stored",
        Unit::Bytes,
        uploaded.clone(),
    );
    let downloaded = Counter::default();
    registry.register_with_unit(
        "downloaded",
        "Artifact bytes sent, checked against their recorded digests",
        Unit::Bytes,
        downloaded.clone(),
    );
    let verifications = Family::<ResultLabel, Counter>::default();
    registry.register(
        "signature_verifications",
        "Signature verifications (at upload and on every re-verification), by result: verified, or the rejection code",
        verifications.clone(),
    );
    let refusals = Family::<ReasonLabel, Counter>::default();
    registry.register(
        "promotion_refusals",
        "Promotions refused, counted once per reason given",
        refusals.clone(),
    );
    let audit_append = latency_buckets();
    registry.register_with_unit(
        "audit_append_duration",
        "Time to append one batch of access-log events (one transaction)",
        Unit::Seconds,
        audit_append.clone(),
    );
    let audit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
    registry.register(
        "audit_append_batch_size",
        "Events appended per access-log transaction",
        audit_batch.clone(),
    );
    let pool = Family::<PoolLabel, Gauge>::default();
    registry.register(
        "db_pool_connections",
        "Database pool connections, by state (idle, in_use), read at scrape time",
        pool.clone(),
    );
    let pool_max = Gauge::default();
    registry.register(
        "db_pool_max_connections",
        "The database pool's upper bound",
        pool_max.clone(),
    );
    let integrity_failures = Counter::default();
    registry.register(
        "integrity_failures",
        "Downloads aborted because stored bytes did not match their recorded digest",
        integrity_failures.clone(),
    );
    let limited = Family::<LimitLabel, Counter>::default();
    registry.register(
        "limited_requests",
        "Requests refused by a limit, by limit: rate_limited, quota_exceeded, too_many_connections, request_timeout, upload_too_slow",
        limited.clone(),
    );
    let stream_delivered = Family::<DestinationLabel, Counter>::default();
    registry.register(
        "audit_stream_delivered",
        "Access-log events the stream to a SIEM (SIGNET_AUDIT_STREAM) delivered",
        stream_delivered.clone(),
    );
    let stream_errors = Family::<DestinationLabel, Counter>::default();
    registry.register(
        "audit_stream_errors",
        "Turns of the stream to a SIEM that failed (destination down, refused, or slow); retried with backoff",
        stream_errors.clone(),
    );
    let stream_lag = Family::<DestinationLabel, Gauge>::default();
    registry.register(
        "audit_stream_lag_events",
        "Events the stream to a SIEM was behind the access log's head at its last turn",
        stream_lag.clone(),
    );
    let webhook_attempts = Family::<AttemptLabel, Counter>::default();
    registry.register(
        "webhook_attempts",
        "Attempts at delivering webhooks, by outcome (delivered: a 2xx answer; failed: anything else, tried again with backoff)",
        webhook_attempts.clone(),
    );
    let extraction_alerts = Counter::default();
    registry.register(
        "extraction_alerts",
        "Alerts on extraction-like access raised (one principal past its rule of distinct versions or bytes within the window)",
        extraction_alerts.clone(),
    );
    Metrics {
        registry,
        requests,
        uploaded,
        downloaded,
        verifications,
        refusals,
        audit_append,
        audit_batch,
        pool,
        pool_max,
        integrity_failures,
        limited,
        stream_delivered,
        stream_errors,
        stream_lag,
        webhook_attempts,
        extraction_alerts,
    }
});

fn metrics() -> Option<&'static Metrics> {
    enabled().then(|| &*METRICS)
}

/// One answered request.
pub fn request(method: &axum::http::Method, route: &str, status: u16, took: Duration) {
    let Some(m) = metrics() else { return };
    let method = match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let status = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route: route.to_owned(),
            status,
        })
        .observe(took.as_secs_f64());
}

pub fn uploaded(bytes: u64) {
    if let Some(m) = metrics() {
        m.uploaded.inc_by(bytes);
    }
}

pub fn downloaded(bytes: u64) {
    if let Some(m) = metrics() {
        m.downloaded.inc_by(bytes);
    }
}

/// One signature verified (`"verified"`) or rejected (its rejection code).
pub fn verification(result: &'static str) {
    if let Some(m) = metrics() {
        m.verifications.get_or_create(&ResultLabel { result }).inc();
    }
}

/// One reason a promotion was refused.
pub fn promotion_refused(reason: &'static str) {
    if let Some(m) = metrics() {
        m.refusals.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// One access-log transaction of `events` events.
pub fn audit_append(events: usize, took: Duration) {
    if let Some(m) = metrics() {
        m.audit_append.observe(took.as_secs_f64());
        m.audit_batch.observe(events as f64);
    }
}

pub fn integrity_failure() {
    if let Some(m) = metrics() {
        m.integrity_failures.inc();
    }
}

/// One request refused by a limit (its error code).
pub fn limited(limit: &'static str) {
    if let Some(m) = metrics() {
        m.limited.get_or_create(&LimitLabel { limit }).inc();
    }
}

/// A turn of the stream to a SIEM: events delivered, and how far behind
/// the log's head it was.
pub fn audit_stream(destination: &str, delivered: usize, lag: i64) {
    if let Some(m) = metrics() {
        let d = DestinationLabel {
            destination: destination.to_owned(),
        };
        m.stream_delivered
            .get_or_create(&d)
            .inc_by(delivered as u64);
        m.stream_lag.get_or_create(&d).set(lag);
    }
}

/// A turn of the stream to a SIEM that failed.
pub fn audit_stream_error(destination: &str) {
    if let Some(m) = metrics() {
        m.stream_errors
            .get_or_create(&DestinationLabel {
                destination: destination.to_owned(),
            })
            .inc();
    }
}

/// An attempt at delivering a webhook.
pub fn webhook_attempt(delivered: bool) {
    if let Some(m) = metrics() {
        let outcome = if delivered { "delivered" } else { "failed" };
        m.webhook_attempts
            .get_or_create(&AttemptLabel { outcome })
            .inc();
    }
}

/// An alert on extraction-like access raised.
pub fn extraction_alert() {
    if let Some(m) = metrics() {
        m.extraction_alerts.inc();
    }
}

/// Every family, in the OpenMetrics text format, with the pool read now.
pub fn render(pool: PoolUsage) -> String {
    let m = &*METRICS;
    let in_use = pool.open.saturating_sub(pool.idle);
    m.pool
        .get_or_create(&PoolLabel { state: "idle" })
        .set(i64::from(pool.idle));
    m.pool
        .get_or_create(&PoolLabel { state: "in_use" })
        .set(i64::from(in_use));
    m.pool_max.set(i64::from(pool.max));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &m.registry)
        .expect("writing to a String cannot fail");
    out
}

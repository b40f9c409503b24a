//! Process metrics in Prometheus text format. Counters only, kept in atomics:
//! the service keeps no other state between requests.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }
}

pub static REQUESTS_2XX: Counter = Counter::new(
    "signet_http_responses_2xx_total",
    "Responses with a 2xx status.",
);
pub static REQUESTS_4XX: Counter = Counter::new(
    "signet_http_responses_4xx_total",
    "Responses with a 4xx status.",
);
pub static REQUESTS_5XX: Counter = Counter::new(
    "signet_http_responses_5xx_total",
    "Responses with a 5xx status.",
);
pub static UPLOADED_BYTES: Counter =
    Counter::new("signet_uploaded_bytes_total", "Artifact bytes accepted.");
pub static INTEGRITY_FAILURES: Counter = Counter::new(
    "signet_integrity_failures_total",
    "Downloads aborted because stored bytes did not match their recorded digest.",
);

static ALL: [&Counter; 5] = [
    &REQUESTS_2XX,
    &REQUESTS_4XX,
    &REQUESTS_5XX,
    &UPLOADED_BYTES,
    &INTEGRITY_FAILURES,
];

/// Counts a response by its status class.
pub fn record_status(status: u16) {
    match status {
        200..=299 => REQUESTS_2XX.inc(),
        400..=499 => REQUESTS_4XX.inc(),
        500..=599 => REQUESTS_5XX.inc(),
        _ => {}
    }
}

pub fn render() -> String {
    let mut out = String::new();
    for c in ALL {
        let _ = writeln!(out, "# HELP {} {}", c.name, c.help);
        let _ = writeln!(out, "# TYPE {} counter", c.name);
        let _ = writeln!(out, "{} {}", c.name, c.value.load(Ordering::Relaxed));
    }
    out
}

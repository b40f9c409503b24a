//! The access log streamed to a SIEM (`SIGNET_AUDIT_STREAM`): Debian's
//! rsyslog as the syslog receiver, and an HTTP event collector played by the
//! test (Splunk HEC's format and token). Every event arrives, in chain order,
//! as OCSF API Activity; a receiver that is down holds no request up and
//! gets everything once it is back; a restarted registry goes on from where
//! it had got.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, env, eventually, free_port, serve_on_loopback};

crate::on_both_backends!(
    the_access_log_reaches_syslog_in_order_through_an_outage_and_a_restart,
    syslog_over_tls_goes_only_to_a_receiver_the_roots_vouch_for,
    a_collector_gets_every_event_with_its_token_after_refusing_some,
);

/// rsyslogd in the foreground, receiving RFC 5424 over TCP on `port` and
/// writing each message's MSG to `out`, one per line.
struct Rsyslog {
    child: std::process::Child,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16, out: &Path) -> Self {
        Self::start_with(dir, port, out, None)
    }

    /// Over TLS, with this authority, certificate and key (GnuTLS driver).
    fn start_tls(dir: &Path, port: u16, out: &Path, tls: [&Path; 3]) -> Self {
        Self::start_with(dir, port, out, Some(tls))
    }

    fn start_with(dir: &Path, port: u16, out: &Path, tls: Option<[&Path; 3]>) -> Self {
        let conf = dir.join(format!("rsyslog-{port}.conf"));
        let (driver, module) = match tls {
            Some([ca, cert, key]) => (
                format!(
                    r#" DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{ca}"
  DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}""#,
                    ca = ca.display(),
                    cert = cert.display(),
                    key = key.display()
                ),
                r#"module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")"#,
            ),
            None => (String::new(), r#"module(load="imtcp")"#),
        };
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}" maxMessageSize="64k"{driver})
{module}
template(name="msgonly" type="string" string="%msg%\n")
ruleset(name="signet") {{
  action(type="omfile" file="{out}" template="msgonly")
}}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="signet")
"#,
                dir = dir.display(),
                out = out.display(),
            ),
        )
        .unwrap();
        let child = std::process::Command::new(env("SIGNET_TEST_RSYSLOGD"))
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join(format!("rsyslog-{port}.pid")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rsyslogd starts");
        Self { child }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sequence numbers of the OCSF events in `out`, in the order received;
/// each line checked for the API Activity shape.
fn received(out: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l.trim()).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["class_uid"], 6003, "{l}");
            assert_eq!(
                v["metadata"]["sequence"], v["unmapped"]["chain"]["seq"],
                "{l}"
            );
            assert!(v["api"]["operation"].is_string(), "{l}");
            v["metadata"]["sequence"].as_i64().unwrap()
        })
        .collect()
}

/// The chain's newest event.
async fn head(app: &TestApp) -> i64 {
    let page: Value = app
        .req(Method::GET, "/v1/audit?limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"][0]["seq"].as_i64().unwrap()
}

/// Every event from 1 to `through` is among `got`, and the first arrival of
/// each is in chain order (a repeat is allowed: at least once).
fn complete_and_ordered(got: &[i64], through: i64) -> bool {
    let mut seen = BTreeSet::new();
    let mut last = 0;
    for &s in got {
        if seen.insert(s) {
            if s < last {
                return false;
            }
            last = s;
        }
    }
    (1..=through).all(|s| seen.contains(&s))
}

async fn some_requests(app: &TestApp, ns: &str) {
    let r = app.create_namespace(ns).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app.create_model(ns, "scorer").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A denied and a failed request are events too.
    let r = app
        .anon(Method::GET, &format!("/v1/models/{ns}/scorer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .req(Method::GET, "/v1/models/nowhere/none")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The stream's failures to the syslog receiver on `port`.
fn stream_errors(metrics: &str, port: u16) -> f64 {
    let series = format!(
        "signet_audit_stream_errors_total{{destination=\"syslog+tcp://127.0.0.1:{port}\"}} "
    );
    metrics
        .lines()
        .find(|l| l.starts_with(&series))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

async fn syslog_over_tls_goes_only_to_a_receiver_the_roots_vouch_for(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::transport::Ca::new(dir.path(), "syslog-ca");
    let (cert, key) = ca.issue(1);
    let out: PathBuf = dir.path().join("received.log");
    let port = free_port();
    let ca_pem = ca.pem_path();
    let _receiver = Rsyslog::start_tls(dir.path(), port, &out, [&ca_pem, &cert, &key]);
    let destination = format!("syslog+tls://localhost:{port}");

    // The platform's roots do not vouch for the receiver: nothing is sent,
    // and the failures are counted.
    let series = format!("signet_audit_stream_errors_total{{destination=\"{destination}\"}} ");
    let errors = |m: String| {
        m.lines()
            .find(|l| l.starts_with(&series))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let untrusting = TestApp::spawn_with(b, |c| c.audit_stream = Some(destination.clone())).await;
    some_requests(&untrusting, "tls-a").await;
    assert!(
        eventually(|| async { errors(untrusting.metrics().await) > 0.0 }).await,
        "no failure counted for an untrusted receiver"
    );
    drop(untrusting);
    assert!(received(&out).is_empty(), "{:?}", received(&out));

    // With the receiver's authority as the roots, everything arrives.
    let trusting = TestApp::spawn_with(b, |c| {
        c.audit_stream = Some(destination.clone());
        c.audit_stream_ca_file = Some(ca.pem_path());
    })
    .await;
    some_requests(&trusting, "tls-b").await;
    let through = head(&trusting).await;
    assert!(
        eventually(|| async { complete_and_ordered(&received(&out), through) }).await,
        "syslog over TLS got {:?}, expected 1..={through}",
        received(&out)
    );
}

async fn the_access_log_reaches_syslog_in_order_through_an_outage_and_a_restart(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("received.log");
    let port = free_port();
    let receiver = Rsyslog::start(dir.path(), port, &out);
    let app = TestApp::spawn_with(b, |c| {
        c.audit_stream = Some(format!("syslog+tcp://127.0.0.1:{port}"));
    })
    .await;
    some_requests(&app, "stream-a").await;
    let through = head(&app).await;
    assert!(
        eventually(|| async { complete_and_ordered(&received(&out), through) }).await,
        "syslog got {:?}, expected 1..={through}",
        received(&out)
    );

    // The receiver goes down: requests are answered as ever, and the stream
    // counts its failures.
    receiver.stop();
    let errors = stream_errors(&app.metrics().await, port);
    some_requests(&app, "stream-b").await;
    let during = head(&app).await;
    assert!(
        eventually(|| async { stream_errors(&app.metrics().await, port) > errors }).await,
        "the stream's failures are not counted"
    );
    assert!(!received(&out).contains(&during));

    // Back up: everything arrives, in order.
    let receiver = Rsyslog::start(dir.path(), port, &out);
    assert!(
        eventually(|| async { complete_and_ordered(&received(&out), during) }).await,
        "after the outage syslog got {:?}, expected 1..={during}",
        received(&out)
    );

    // A restarted registry goes on from where it had got: nothing missing,
    // nothing it had recorded as delivered sent again.
    let position = "SELECT MAX(position) FROM audit_streams";
    assert!(eventually(|| async { app.sql_i64(position).await >= during }).await);
    let before = received(&out).len();
    let app = app.restart().await;
    some_requests(&app, "stream-c").await;
    let after = head(&app).await;
    assert!(
        eventually(|| async { complete_and_ordered(&received(&out), after) }).await,
        "after a restart syslog got {:?}, expected 1..={after}",
        received(&out)
    );
    let got = received(&out);
    let resent: Vec<i64> = got[before..]
        .iter()
        .copied()
        .filter(|s| *s <= during)
        .collect();
    assert!(
        resent.is_empty(),
        "sent again after the restart: {resent:?}"
    );
    drop(receiver);
}

/// What the collector was sent: each request's token and events.
#[derive(Default)]
struct Collected {
    tokens: Vec<String>,
    seqs: Vec<i64>,
    refused: usize,
}

async fn a_collector_gets_every_event_with_its_token_after_refusing_some(b: Backend) {
    use axum::http::{HeaderMap, StatusCode as S};
    let collected = Arc::new(Mutex::new(Collected::default()));
    let state = collected.clone();
    let collector = axum::Router::new().route(
        "/services/collector/event",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let mut c = state.lock().unwrap();
                // The first three turns find the collector unavailable.
                if c.refused < 3 {
                    c.refused += 1;
                    return S::SERVICE_UNAVAILABLE;
                }
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                c.tokens.push(token);
                for line in body.lines() {
                    let v: Value = serde_json::from_str(line).unwrap();
                    assert_eq!(v["sourcetype"], "ocsf:api_activity");
                    assert_eq!(v["event"]["class_uid"], 6003);
                    assert!(v["time"].as_f64().unwrap() > 1.7e9);
                    c.seqs
                        .push(v["event"]["metadata"]["sequence"].as_i64().unwrap());
                }
                S::OK
            }
        }),
    );
    let base = serve_on_loopback(collector).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("hec-token");
    std::fs::write(&token_file, "11111111-2222-3333-4444-555555555555\n").unwrap();
    let app = TestApp::spawn_with(b, |c| {
        c.audit_stream = Some(format!("{base}/services/collector/event"));
        c.audit_stream_token_file = Some(token_file.clone());
    })
    .await;
    some_requests(&app, "hec").await;
    let through = head(&app).await;
    let seqs = || collected.lock().unwrap().seqs.clone();
    assert!(
        eventually(|| async { complete_and_ordered(&seqs(), through) }).await,
        "the collector got {:?}, expected 1..={through}",
        seqs()
    );
    let c = collected.lock().unwrap();
    assert_eq!(c.refused, 3);
    assert!(
        c.tokens
            .iter()
            .all(|t| t == "Splunk 11111111-2222-3333-4444-555555555555"),
        "{:?}",
        c.tokens
    );
}

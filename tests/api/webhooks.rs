//! Webhooks: a namespace's subscriptions, delivered as CloudEvents signed as
//! the Standard Webhooks specification says. The receiver is an HTTPS server
//! that checks every signature with the specification's reference library
//! (`standardwebhooks` from PyPI); it can be stopped, slowed and made to
//! refuse. Every event arrives, in order, whatever the receiver does for a
//! while; one that keeps failing is given up and its webhook disabled; the
//! SSRF guard refuses internal targets when they are set and at every
//! attempt; one namespace's webhooks are invisible from another.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, env, error_code, eventually, free_port, full_lineage, safetensors_bytes,
};
use crate::transport::Ca;

crate::on_both_backends!(
    a_deployment_system_gets_every_event_signed_and_in_order,
    a_receiver_down_then_slow_gets_everything_afterwards_in_order,
    a_delivery_failing_for_its_whole_window_fails_and_disables_the_webhook,
    internal_targets_are_refused_when_set_and_at_every_attempt,
    webhooks_are_the_namespaces_own_and_their_secrets_are_sealed,
    a_replica_killed_mid_delivery_is_taken_over_by_another,
);

/// The event types a subscription may name.
const ALL_TYPES: [&str; 7] = [
    "dev.signet.version.sealed",
    "dev.signet.signature.added",
    "dev.signet.alias.moved",
    "dev.signet.promotion.refused",
    "dev.signet.key.revoked",
    "dev.signet.quarantine.placed",
    "dev.signet.quarantine.lifted",
];

/// The Python receiver (tests/fixtures/webhook_receiver.py) over HTTPS on
/// 127.0.0.1, with a certificate of the test's authority.
pub(crate) struct Receiver {
    child: Option<std::process::Child>,
    dir: PathBuf,
    port: u16,
    cert: (PathBuf, PathBuf),
}

impl Receiver {
    /// A receiver on a free port, not started yet (a target that is down).
    fn new(dir: &Path, ca: &Ca) -> Self {
        let dir = dir.join(format!("receiver-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            child: None,
            port: free_port(),
            cert: ca.issue(free_port().into()),
            dir,
        }
    }

    pub(crate) async fn started(dir: &Path, ca: &Ca) -> Self {
        let mut r = Self::new(dir, ca);
        r.start().await;
        r
    }

    async fn start(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("ready"));
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhook_receiver.py");
        let child = std::process::Command::new(env("SIGNET_TEST_WEBHOOK_PYTHON"))
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.cert.0)
            .arg(&self.cert.1)
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the receiver starts");
        self.child = Some(child);
        let ready = self.dir.join("ready");
        assert!(
            eventually(|| async { ready.exists() }).await,
            "the receiver did not start"
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("https://127.0.0.1:{}/hooks/signet", self.port)
    }

    pub(crate) fn secret(&self, secret: &str) {
        std::fs::write(self.dir.join("secret"), secret).unwrap();
    }

    /// What it answers from now on: a status, after a delay (seconds).
    fn behave(&self, status: u16, delay: f64) {
        let b = json!({"status": status, "delay": delay});
        std::fs::write(self.dir.join("behaviour"), b.to_string()).unwrap();
    }

    /// The webhook-ids of the requests that reached it so far, as they
    /// arrived (before any answer).
    fn arrived(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("arrived"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every request it took, in order.
    pub(crate) fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("received"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The events it took (answered 2xx, signature verified), first arrival
    /// of each message only.
    pub(crate) fn taken(&self) -> Vec<Value> {
        let mut seen = std::collections::BTreeSet::new();
        self.received()
            .into_iter()
            .filter(|r| r["verified"] == true && r["status"].as_u64() < Some(300))
            .filter(|r| seen.insert(r["webhook_id"].as_str().unwrap().to_owned()))
            .map(|r| r["event"].clone())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A registry whose webhooks may reach the receivers on 127.0.0.1, under
/// the test's authority, with these attempt timeout and retry window.
async fn registry(b: Backend, ca: &Ca, timeout_secs: u64, retry_secs: u64) -> TestApp {
    let roots = ca.pem_path();
    TestApp::spawn_with(b, move |c| {
        c.webhooks.allow = "127.0.0.1".into();
        c.webhooks.ca_file = Some(roots);
        c.webhooks.timeout_secs = timeout_secs;
        c.webhooks.retry_secs = retry_secs;
    })
    .await
}

/// Subscribes `ns` to `types` at `url`: the webhook's path and its secret.
pub(crate) async fn subscribe(
    app: &TestApp,
    ns: &str,
    url: &str,
    types: &[&str],
) -> (String, String) {
    let r = app
        .req(Method::POST, &format!("/v1/namespaces/{ns}/webhooks"))
        .json(&json!({"url": url, "event_types": types, "description": "deploys"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{made}");
    (
        format!(
            "/v1/namespaces/{ns}/webhooks/{}",
            made["id"].as_str().unwrap()
        ),
        secret,
    )
}

async fn get(app: &TestApp, path: &str) -> Value {
    let r = app.req(Method::GET, path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

async fn deliveries(app: &TestApp, hook: &str) -> Vec<Value> {
    get(app, &format!("{hook}/deliveries")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn a_deployment_system_gets_every_event_signed_and_in_order(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "hooks-ca");
    let rx = Receiver::started(dir.path(), &ca).await;
    let app = registry(b, &ca, 5, 3600).await;
    let (ns, model) = app.given_model().await;
    let (hook, secret) = subscribe(&app, &ns, &rx.url(), &ALL_TYPES).await;
    rx.secret(&secret);
    let shown = get(&app, &hook).await;
    assert!(shown.get("secret").is_none(), "shown once: {shown}");
    assert_eq!(shown["active"], true);
    // Another namespace's activity reaches no subscriber of this one.
    assert_eq!(
        app.create_namespace("other").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("other", "m").await.status(),
        StatusCode::CREATED
    );

    let files: &[(&str, &[u8])] = &[("model.safetensors", &safetensors_bytes())];
    let (v, key) = app.released(&ns, &model, "ci", files).await;
    app.sealed_version("other", "m", full_lineage(), files)
        .await;
    let (unsigned, _) = app.sealed_version(&ns, &model, full_lineage(), files).await;
    let r = app.promote(&ns, &model, "production", unsigned).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", key.keyid))
        .json(&json!({"reason": "retired", "note": "rotated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .req(Method::POST, "/v1/quarantines")
        .json(&json!({"kind": "dataset", "value": "cd".repeat(32), "reason": "poisoned rows", "namespaces": [ns, "other"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let q = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .req(Method::DELETE, &format!("/v1/quarantines/{q}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let expected = [
        "dev.signet.version.sealed",
        "dev.signet.signature.added",
        "dev.signet.alias.moved",
        "dev.signet.version.sealed",
        "dev.signet.promotion.refused",
        "dev.signet.key.revoked",
        "dev.signet.quarantine.placed",
        "dev.signet.quarantine.lifted",
    ];
    assert!(
        eventually(|| async { rx.taken().len() >= expected.len() }).await,
        "taken: {:?}",
        rx.received()
    );
    let all = rx.received();
    assert!(all.iter().all(|r| r["verified"] == true), "{all:?}");
    let events = rx.taken();
    assert_eq!(types_of(&events), expected, "{events:#?}");
    // In the log's order, each its own event of this registry, about this
    // namespace only.
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for e in &events {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], "https://signet-test");
        assert_eq!(e["data"]["log_seq"].to_string(), e["id"].as_str().unwrap());
        assert!(!e.to_string().contains("other/m"), "{e}");
    }
    let version = get(&app, &format!("/v1/models/{ns}/{model}/versions/{v}")).await;
    let subject = format!("{ns}/{model}@{v}");
    let moved = &events[2]["data"];
    assert_eq!(events[2]["subject"], subject.as_str());
    assert_eq!(moved["alias"], "production");
    assert_eq!(moved["version"], v);
    assert_eq!(moved["previous_version"], Value::Null);
    assert_eq!(moved["root_digest"], version["root_digest"]);
    assert_eq!(moved["principal"], "admin");
    assert_eq!(events[0]["data"]["root_digest"], version["root_digest"]);
    assert_eq!(events[1]["data"]["keyid"], key.keyid.as_str());
    let refused = &events[4];
    assert_eq!(
        refused["subject"],
        format!("{ns}/{model}@{unsigned}").as_str()
    );
    assert!(
        refused["data"]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("unsigned")),
        "{refused}"
    );
    let revoked = &events[5];
    assert_eq!(revoked["data"]["reason"], "retired");
    assert_eq!(revoked["data"]["note"], "rotated");
    assert_eq!(revoked["data"]["namespaces"], json!([ns]));
    assert_eq!(events[6]["data"]["quarantine"], q.as_str());
    // Of the namespaces it names, only this one: no namespace learns of
    // another through its webhooks.
    assert_eq!(events[6]["data"]["namespaces"], json!([ns]));
    assert_eq!(events[6]["data"]["reason"], "poisoned rows");
    assert_eq!(events[7]["data"]["quarantine"], q.as_str());

    // What the registry shows of them (once it has recorded the last
    // answer): delivered, the receiver's answer.
    let recorded = || async {
        let d = deliveries(&app, &hook).await;
        d.iter().all(|x| x["state"] == "delivered")
    };
    assert!(
        eventually(recorded).await,
        "{:#?}",
        deliveries(&app, &hook).await
    );
    let shown = deliveries(&app, &hook).await;
    assert_eq!(shown.len(), expected.len(), "{shown:#?}");
    for d in &shown {
        assert_eq!(d["state"], "delivered", "{d}");
        let a = &d["attempts"][0];
        assert_eq!(a["status"], 200, "{d}");
        assert_eq!(a["excerpt"], "received", "{d}");
        assert!(d["message_id"].as_str().unwrap().starts_with("msg_"));
    }
    // The newest first; a second page goes on from the first.
    let page = get(&app, &format!("{hook}/deliveries?limit=3")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        page["items"][0]["event_type"],
        "dev.signet.quarantine.lifted"
    );
    let next = page["next_cursor"].as_str().unwrap();
    let rest = get(&app, &format!("{hook}/deliveries?limit=10&cursor={next}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), expected.len() - 3);

    // A test event goes out at once, outside the queue, and says how it went.
    let r = app
        .req(Method::POST, &format!("{hook}/test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let test: Value = r.json().await.unwrap();
    assert_eq!(test["state"], "delivered", "{test}");
    assert_eq!(test["event_type"], "dev.signet.webhook.ping");
    let last = rx.received().pop().unwrap();
    assert_eq!(last["event"]["type"], "dev.signet.webhook.ping");
    assert_eq!(last["webhook_id"], test["message_id"]);
}

async fn a_receiver_down_then_slow_gets_everything_afterwards_in_order(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "hooks-ca");
    // Not started: the target is down.
    let mut rx = Receiver::new(dir.path(), &ca);
    let app = registry(b, &ca, 1, 3600).await;
    let (ns, model) = app.given_model().await;
    let (hook, secret) = subscribe(&app, &ns, &rx.url(), &ALL_TYPES).await;
    rx.secret(&secret);
    let files: &[(&str, &[u8])] = &[("model.safetensors", &safetensors_bytes())];
    // Requests are answered while nothing can be delivered.
    app.released(&ns, &model, "ci", files).await;

    let failed_twice = || async {
        let d = deliveries(&app, &hook).await;
        let first = d.last().cloned().unwrap_or_default();
        first["attempts"].as_array().is_some_and(|a| a.len() >= 2)
    };
    assert!(
        eventually(failed_twice).await,
        "{:#?}",
        deliveries(&app, &hook).await
    );
    let d = deliveries(&app, &hook).await;
    let first = d.last().unwrap();
    assert_eq!(first["state"], "pending", "{first}");
    assert!(first["next_attempt_at"].is_string());
    for a in first["attempts"].as_array().unwrap() {
        assert_eq!(a["status"], Value::Null, "{a}");
        assert!(
            a["error"].as_str().unwrap().contains("could not connect"),
            "{a}"
        );
    }
    // The later events wait behind the first: nothing overtakes it.
    assert!(d.iter().all(|x| x["state"] == "pending"), "{d:#?}");

    // Back, but slower than an attempt may take: the attempt times out.
    rx.behave(200, 2.5);
    rx.start().await;
    let timed_out = || async {
        deliveries(&app, &hook).await.last().unwrap()["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["error"].as_str().is_some_and(|e| e.contains("timeout")))
    };
    assert!(
        eventually(timed_out).await,
        "{:#?}",
        deliveries(&app, &hook).await
    );

    rx.behave(200, 0.0);
    let all_delivered = || async {
        let d = deliveries(&app, &hook).await;
        d.len() == 3 && d.iter().all(|x| x["state"] == "delivered")
    };
    assert!(
        eventually(all_delivered).await,
        "{:#?}",
        deliveries(&app, &hook).await
    );
    assert!(eventually(|| async { rx.taken().len() == 3 }).await);
    let events = rx.taken();
    assert_eq!(
        types_of(&events),
        [
            "dev.signet.version.sealed",
            "dev.signet.signature.added",
            "dev.signet.alias.moved"
        ]
    );
    // A message taken late by a slow receiver comes again with its id: the
    // receiver deduplicates by it.
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        ids.windows(2)
            .all(|w| w[0].parse::<i64>().unwrap() < w[1].parse::<i64>().unwrap())
    );
    let all = rx.received();
    assert!(all.iter().all(|r| r["verified"] == true), "{all:?}");
}

async fn a_delivery_failing_for_its_whole_window_fails_and_disables_the_webhook(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "hooks-ca");
    let rx = Receiver::started(dir.path(), &ca).await;
    rx.behave(500, 0.0);
    let app = registry(b, &ca, 1, 2).await;
    let (ns, model) = app.given_model().await;
    let (hook, secret) = subscribe(&app, &ns, &rx.url(), &["dev.signet.version.sealed"]).await;
    rx.secret(&secret);
    let files: &[(&str, &[u8])] = &[("model.safetensors", &safetensors_bytes())];
    let (first, _) = app.sealed_version(&ns, &model, full_lineage(), files).await;

    let disabled = || async { get(&app, &hook).await["active"] == false };
    assert!(eventually(disabled).await, "{}", get(&app, &hook).await);
    let w = get(&app, &hook).await;
    let why = w["disabled_reason"].as_str().unwrap();
    assert!(
        why.contains("failed for 2 s") && why.contains("answered 500"),
        "{why}"
    );
    let d = deliveries(&app, &hook).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["state"], "failed");
    let attempts = d[0]["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{d:?}");
    for a in attempts {
        assert_eq!(a["status"], 500);
        assert_eq!(a["excerpt"], "not taken");
    }
    assert!(
        app.metrics()
            .await
            .contains("signet_webhook_attempts_total{outcome=\"failed\"}")
    );

    // While disabled, events wait; enabled again, they go out from there.
    let (second, _) = app.sealed_version(&ns, &model, full_lineage(), files).await;
    rx.behave(200, 0.0);
    let r = app
        .req(Method::PATCH, &hook)
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let w: Value = r.json().await.unwrap();
    assert_eq!(
        (w["active"].clone(), w["disabled_reason"].clone()),
        (json!(true), Value::Null)
    );
    assert!(
        eventually(|| async { rx.taken().len() == 1 }).await,
        "{:?}",
        rx.received()
    );
    assert_eq!(rx.taken()[0]["data"]["version"], second);

    // The failed one, redelivered: the same message, taken now.
    let failed_id = d[0]["id"].as_str().unwrap();
    let r = app
        .req(
            Method::POST,
            &format!("{hook}/deliveries/{failed_id}/redeliver"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(
        eventually(|| async { rx.taken().len() == 2 }).await,
        "{:?}",
        rx.received()
    );
    let again = &rx.taken()[1];
    assert_eq!(again["data"]["version"], first);
    let msg = d[0]["message_id"].as_str().unwrap();
    let tries: Vec<Value> = rx
        .received()
        .into_iter()
        .filter(|r| r["webhook_id"] == msg)
        .collect();
    assert!(
        tries.len() >= 3 && tries.last().unwrap()["status"] == 200,
        "{tries:?}"
    );
    // A delivery of another webhook is not this one's to redeliver.
    let r = app
        .req(
            Method::POST,
            &format!("{hook}/deliveries/{}/redeliver", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn internal_targets_are_refused_when_set_and_at_every_attempt(b: Backend) {
    // No SIGNET_WEBHOOK_ALLOW: public https targets only.
    let app = TestApp::spawn(b).await;
    let (ns, _) = app.given_model().await;
    let refused = [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://127.1/x", "loopback"),
        ("https://2130706433/x", "loopback"),
        ("https://0x7f000001/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:127.0.0.1]/x", "loopback"),
        ("https://[::ffff:169.254.169.254]/x", "metadata"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://169.254.0.1/x", "link-local"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://10.1.2.3/x", "private"),
        ("https://172.16.0.1/x", "private"),
        ("https://192.168.1.1/x", "private"),
        ("https://[fd00::1]/x", "private"),
        ("https://100.64.0.1/x", "carrier-grade NAT"),
        ("https://0.0.0.0/x", "this network"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "metadata"),
        ("https://[2002:a9fe:a9fe::1]/x", "metadata"),
        ("https://[2001::1]/x", "Teredo"),
        ("https://[::]/x", "unspecified"),
        ("https://user:pass@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("ftp://hooks.example.com/x", "scheme"),
        ("hooks.example.com/x", "absolute"),
    ];
    for (url, says) in refused {
        let r = app
            .req(Method::POST, &format!("/v1/namespaces/{ns}/webhooks"))
            .json(&json!({"url": url, "event_types": ["dev.signet.alias.moved"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_webhook", "{url}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{url}: {msg}");
    }
    for bad in [
        json!({"url": "https://hooks.example.com/x", "event_types": []}),
        json!({"url": "https://hooks.example.com/x", "event_types": ["dev.signet.webhook.ping"]}),
        json!({"url": "https://hooks.example.com/x", "event_types": ["alias.moved"]}),
        json!({"url": "https://hooks.example.com/x", "event_types": ["dev.signet.alias.moved"], "description": "a\u{0}b"}),
    ] {
        let r = app
            .req(Method::POST, &format!("/v1/namespaces/{ns}/webhooks"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await, "invalid_webhook", "{bad}");
    }
    for bad in [
        json!({"url": "https://hooks.example.com/x"}),
        json!({"url": "https://hooks.example.com/x", "event_types": ["dev.signet.alias.moved"], "secret": "whsec_x"}),
    ] {
        let r = app
            .req(Method::POST, &format!("/v1/namespaces/{ns}/webhooks"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Nothing was kept of any of them.
    let list = get(&app, &format!("/v1/namespaces/{ns}/webhooks")).await;
    assert_eq!(list["items"], json!([]));

    // A name is checked when it resolves, at every attempt: one that
    // resolves to loopback is never connected to.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hook, _) = subscribe(
        &app,
        &ns,
        &format!("https://localhost:{port}/x"),
        &["dev.signet.alias.moved"],
    )
    .await;
    let r = app
        .req(Method::POST, &format!("{hook}/test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let test: Value = r.json().await.unwrap();
    assert_eq!(test["state"], "failed", "{test}");
    let error = test["attempts"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("localhost") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(test["attempts"][0]["status"], Value::Null);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the registry connected to a refused address"
    );
    // Changed to an internal target: refused, the old one kept.
    let before = get(&app, &hook).await;
    let r = app
        .req(Method::PATCH, &hook)
        .json(&json!({"url": "https://169.254.169.254/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "invalid_webhook");
    assert_eq!(get(&app, &hook).await["url"], before["url"]);
}

async fn webhooks_are_the_namespaces_own_and_their_secrets_are_sealed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, _) = app.given_model().await;
    assert_eq!(
        app.create_namespace("other").await.status(),
        StatusCode::CREATED
    );
    let (hook, secret) = subscribe(
        &app,
        &ns,
        "https://hooks.invalid/x",
        &["dev.signet.alias.moved"],
    )
    .await;
    let id = hook.rsplit('/').next().unwrap();
    // Under another namespace's path it does not exist, for anyone.
    let elsewhere = format!("/v1/namespaces/other/webhooks/{id}");
    for (m, path) in [
        (Method::GET, elsewhere.clone()),
        (Method::PATCH, elsewhere.clone()),
        (Method::DELETE, elsewhere.clone()),
        (Method::POST, format!("{elsewhere}/test")),
        (Method::GET, format!("{elsewhere}/deliveries")),
    ] {
        let r = app
            .req(m.clone(), &path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{m} {path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains(&ns), "{body}");
    }
    // Its maintainer sees it; a maintainer of the other namespace does not
    // learn it exists.
    let theirs = app.member_token("carol", "other", "maintainer").await;
    assert_eq!(app.status_as(&hook, &theirs).await, StatusCode::NOT_FOUND);
    let ours = app.member_token("dave", &ns, "maintainer").await;
    assert_eq!(app.status_as(&hook, &ours).await, StatusCode::OK);
    let list = get(&app, "/v1/namespaces/other/webhooks").await;
    assert_eq!(list["items"], json!([]));

    // The secret is kept sealed: its bytes are nowhere in the database, and
    // no answer shows it again.
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let hex = hex::encode(&raw);
    let found = match b {
        Backend::Sqlite => {
            format!("SELECT COUNT(*) FROM webhooks WHERE instr(sealed_secret, x'{hex}') > 0")
        }
        Backend::Postgres => format!(
            "SELECT COUNT(*) FROM webhooks WHERE position(decode('{hex}', 'hex') in sealed_secret) > 0"
        ),
    };
    assert_eq!(app.sql_i64(&found).await, 0);
    assert_eq!(app.sql_i64("SELECT COUNT(*) FROM webhooks").await, 1);
    for path in [hook.clone(), format!("/v1/namespaces/{ns}/webhooks")] {
        let text = app
            .req(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(&secret), "{text}");
    }
    let log = app
        .req(Method::GET, "/v1/audit/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !log.contains(&secret[6..]),
        "the access log holds the secret"
    );
    // Removed, it is gone with its deliveries.
    let r = app.req(Method::DELETE, &hook).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::GET, &hook).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Polls `cond` until it holds, for at most `secs`; whether it did (a lease
/// to lapse takes longer than `eventually` waits).
async fn within<F, Fut>(secs: u64, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// One request to a replica, as the admin; its answer's body.
async fn call(base: &str, token: &str, m: Method, path: &str, body: Option<Value>) -> Value {
    let mut r = reqwest::Client::new()
        .request(m.clone(), format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{m} {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// The replica holding a webhook's lease, as the database records it.
async fn lease_owner(database: &str) -> Option<String> {
    use sqlx::Connection;
    let q = "SELECT owner FROM webhooks";
    if database.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(database).await.unwrap();
        sqlx::query_scalar(q).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(database).await.unwrap();
        sqlx::query_scalar(q).fetch_one(&mut c).await.unwrap()
    }
}

/// The replica id a `signet serve` process delivers webhooks as.
fn replica_of(p: &crate::startup::Signet) -> String {
    p.text()
        .lines()
        .find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["fields"]["message"] == "delivering webhooks")
                .then(|| v["fields"]["replica"].as_str().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no replica id: {}", p.text()))
}

/// Two `signet serve` processes on one database; the one delivering is
/// killed (SIGKILL) while its attempt is in flight. The other takes the
/// webhook over once the dead one's lease lapses and delivers everything,
/// the interrupted message again with its id, in order.
async fn a_replica_killed_mid_delivery_is_taken_over_by_another(b: Backend) {
    use crate::startup::{Signet, settings};
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "hooks-ca");
    let rx = Receiver::started(dir.path(), &ca).await;
    // The first attempt hangs past the kill.
    rx.behave(200, 8.0);
    let database = match b {
        Backend::Sqlite => format!("sqlite://{}/signet.db?mode=rwc", dir.path().display()),
        Backend::Postgres => crate::helpers::fresh_postgres_database().await,
    };
    let key = dir.path().join("webhook-key");
    std::fs::write(
        &key,
        signet::webhooks::seal::SealingKey::generate().unwrap(),
    )
    .unwrap();
    let (mut vars, token) = settings(database.clone(), &dir);
    vars.extend([
        ("SIGNET_DATA_DIR", dir.path().display().to_string()),
        ("SIGNET_WEBHOOK_KEY_FILE", key.display().to_string()),
        ("SIGNET_WEBHOOK_ALLOW", "127.0.0.1".to_owned()),
        (
            "SIGNET_WEBHOOK_CA_FILE",
            ca.pem_path().display().to_string(),
        ),
        ("SIGNET_WEBHOOK_TIMEOUT_SECS", "5".to_owned()),
        ("SIGNET_REGISTRY_NAME", "signet-test".to_owned()),
    ]);
    // One after the other: the first migrates the database.
    let first = Signet::spawn(&["serve"], &vars);
    let api = first.ready().await;
    let mut replicas = [first, Signet::spawn(&["serve"], &vars)];
    replicas[1].ready().await;

    call(
        &api,
        &token,
        Method::POST,
        "/v1/namespaces",
        Some(json!({"name": "fraud"})),
    )
    .await;
    let model = json!({"namespace": "fraud", "name": "scorer"});
    call(&api, &token, Method::POST, "/v1/models", Some(model)).await;
    let made = call(
        &api,
        &token,
        Method::POST,
        "/v1/namespaces/fraud/webhooks",
        Some(json!({"url": rx.url(), "event_types": ["dev.signet.version.sealed"]})),
    )
    .await;
    rx.secret(made["secret"].as_str().unwrap());
    let hook = format!(
        "/v1/namespaces/fraud/webhooks/{}",
        made["id"].as_str().unwrap()
    );
    for _ in 0..3 {
        let versions = "/v1/models/fraud/scorer/versions";
        let v = call(&api, &token, Method::POST, versions, Some(json!({}))).await["version"]
            .as_i64()
            .unwrap();
        let file = reqwest::Client::new()
            .put(format!("{api}{versions}/{v}/files/m.bin"))
            .bearer_auth(&token)
            .body("w")
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), StatusCode::CREATED);
        call(
            &api,
            &token,
            Method::POST,
            &format!("{versions}/{v}/seal"),
            None,
        )
        .await;
    }

    // The first message is in flight: kill whichever replica sent it.
    assert!(
        within(30, || async { !rx.arrived().is_empty() }).await,
        "nothing arrived"
    );
    let owner = lease_owner(&database)
        .await
        .expect("a replica holds the webhook");
    let dying = replicas
        .iter()
        .position(|p| replica_of(p) == owner)
        .expect("the lease is one of the two replicas'");
    replicas[dying].kill().await;
    let survivor = &replicas[1 - dying];
    let (survivor_id, survivor_api) = (replica_of(survivor), survivor.ready().await);
    rx.behave(200, 0.0);

    // The survivor takes over once the lease lapses (three attempt timeouts
    // and 5 s), and delivers all three, in order.
    let all = || async {
        let d = call(
            &survivor_api,
            &token,
            Method::GET,
            &format!("{hook}/deliveries"),
            None,
        )
        .await;
        let items = d["items"].as_array().unwrap().clone();
        items.len() == 3 && items.iter().all(|x| x["state"] == "delivered")
    };
    assert!(within(60, all).await, "received: {:?}", rx.received());
    assert_eq!(lease_owner(&database).await, Some(survivor_id));
    assert!(within(10, || async { rx.taken().len() == 3 }).await);
    let versions: Vec<i64> = rx
        .taken()
        .iter()
        .map(|e| e["data"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    let first = rx.arrived()[0].clone();
    assert!(
        rx.arrived().iter().filter(|id| **id == first).count() >= 2,
        "the interrupted message came again with its id: {:?}",
        rx.arrived()
    );
    assert!(rx.received().iter().all(|r| r["verified"] == true));
}

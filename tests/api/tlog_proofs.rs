//! The transparency log's tiles and proofs: served as C2SP `tlog-tiles` and
//! RFC 6962 say, to whom the rules allow; checked by an outside
//! implementation (Go's `sumdb/note` and `sumdb/tlog`) and by `signet audit`;
//! and a database edit after a checkpoint (an event edited, removed or moved)
//! caught by both.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use signet::tlog::{Hash, check_inclusion, leaf_hash};

use crate::helpers::{Backend, TestApp, eventually};
use crate::tlog::{checkpoint_of, exported, mth, registry_key, text};

crate::on_both_backends!(
    tiles_and_entry_bundles_are_served_as_the_specification_says,
    inclusion_proofs_go_to_whoever_reads_the_event,
    an_outside_verifier_in_go_checks_the_log_and_the_client_agrees,
    an_edited_event_shows_in_go_and_in_the_client,
    a_removed_event_shows_in_go_and_in_the_client,
    reordered_events_show_in_go_and_in_the_client,
);

/// Requests that each leave one event.
async fn events(app: &TestApp, n: usize) {
    for _ in 0..n {
        let r = app.req(Method::GET, "/v1/whoami").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// The chain's head now.
async fn head(app: &TestApp) -> u64 {
    let v: Value = app
        .req(Method::GET, "/v1/audit/verify")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["head"]["seq"].as_u64().unwrap_or_else(|| panic!("{v}"))
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.anon(Method::GET, path)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn tiles_and_entry_bundles_are_served_as_the_specification_says(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_draft().await;
    events(&app, 300).await;
    let key = registry_key(&app).await;
    let (c, _) = checkpoint_of(&app, &key, head(&app).await).await;
    assert!(c.size > 256 && c.size < 400, "{}", c.size);
    let lines = exported(&app).await;
    let leaves: Vec<Hash> = lines[..c.size as usize]
        .iter()
        .map(|l| leaf_hash(l.as_bytes()))
        .collect();
    // A full level-0 tile: the first 256 leaf hashes, kept for good.
    let r = get(&app, "/v1/audit/log/tile/0/000", &app.admin).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.contains("immutable"), "{cache}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), leaves[..256].concat());
    // The partial tiles of the newest size: the rest of level 0, and level 1
    // holding the full tile's hash; not kept.
    let rest = c.size - 256;
    let r = get(
        &app,
        &format!("/v1/audit/log/tile/0/001.p/{rest}"),
        &app.admin,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), leaves[256..].concat());
    let r = get(&app, "/v1/audit/log/tile/1/000.p/1", &app.admin).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), mth(&leaves[..256]));
    // An entry bundle: each event's export line after its length.
    let r = get(&app, "/v1/audit/log/tile/entries/000", &app.admin).await;
    assert_eq!(r.status(), StatusCode::OK);
    let bundle = r.bytes().await.unwrap();
    let mut at = 0;
    for line in &lines[..256] {
        let len = u16::from_be_bytes([bundle[at], bundle[at + 1]]) as usize;
        assert_eq!(&bundle[at + 2..at + 2 + len], line.as_bytes());
        at += 2 + len;
    }
    assert_eq!(at, bundle.len());
    // What the tree does not hold yet, and what names no tile: missing.
    for path in [
        "0/002",
        // Wider than the tree grows while this test runs.
        "0/001.p/255",
        "1/000",
        "2/000.p/1",
        "entries/001",
        "0/x000/001",
        "0/1",
        "8/000",
        "0/000.p/256",
        "0/000.p/0",
        "tile",
        "0/000/extra",
    ] {
        let r = get(&app, &format!("/v1/audit/log/tile/{path}"), &app.admin).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(crate::helpers::error_code(r).await, "not_found", "{path}");
    }
    // A namespace's auditor reads hash tiles (no content), not entries;
    // a reader without an audit role neither.
    let ana = app.member_token("ana", "fraud", "auditor").await;
    let rita = app.member_token("rita", "fraud", "reader").await;
    assert_eq!(
        get(&app, "/v1/audit/log/tile/0/000", &ana).await.status(),
        StatusCode::OK
    );
    for (who, path) in [
        (&ana, "entries/000"),
        (&rita, "entries/000"),
        (&rita, "0/000"),
    ] {
        let r = get(&app, &format!("/v1/audit/log/tile/{path}"), who).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = text(&app, "/v1/audit/log/checkpoint").await;
    assert_eq!(status, StatusCode::OK);
}

/// The proof of `seq` as `token` asks for it (`query` after `?`).
async fn proof(app: &TestApp, seq: &str, query: &str, token: &str) -> reqwest::Response {
    get(app, &format!("/v1/audit/events/{seq}/proof?{query}"), token).await
}

/// Checks an inclusion proof as an auditor would: the checkpoint with the
/// pinned key, the leaf from the entry, the path to the signed root.
fn checks_out(p: &Value, key: &signet::tlog::note::NoteVerifier, seq: u64) -> bool {
    let c = key.open(p["checkpoint"].as_str().unwrap()).unwrap();
    let hashes: Vec<Hash> = p["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let entry: Value = serde_json::from_str(p["entry"].as_str().unwrap()).unwrap();
    p["tree_size"] == c.size
        && p["leaf_index"] == seq - 1
        && entry["seq"] == seq
        && check_inclusion(
            seq - 1,
            c.size,
            &leaf_hash(p["entry"].as_str().unwrap().as_bytes()),
            &hashes,
            &c.root,
        )
}

async fn inclusion_proofs_go_to_whoever_reads_the_event(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_draft().await;
    app.create_namespace("search").await;
    app.create_model("search", "ranker").await;
    events(&app, 5).await;
    let key = registry_key(&app).await;
    let (old, _) = checkpoint_of(&app, &key, head(&app).await).await;
    events(&app, 3).await;
    let (c, _) = checkpoint_of(&app, &key, head(&app).await).await;
    let lines = exported(&app).await;
    let seq_of = |ns: &str| -> u64 {
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|e| e["namespace"] == ns)
            .unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let (fraud, search) = (seq_of("fraud"), seq_of("search"));
    // A global auditor: any event, in the newest tree or an older one.
    for (seq, query, size) in [
        (fraud, String::new(), c.size),
        (search, format!("size={}", old.size), old.size),
        (c.size, String::new(), c.size),
    ] {
        let r = proof(&app, &seq.to_string(), &query, &app.admin).await;
        assert_eq!(r.status(), StatusCode::OK, "{seq} {query}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["tree_size"], size);
        assert!(checks_out(&p, &key, seq), "{p}");
    }
    // A namespace's auditor: its own events; another's is missing, as is one
    // that does not exist; it names its namespace.
    let ana = app.member_token("ana", "fraud", "auditor").await;
    let r = proof(&app, &fraud.to_string(), "namespace=fraud", &ana).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(checks_out(&r.json().await.unwrap(), &key, fraud));
    let mut missing = Vec::new();
    // In one tree (the log grows with every request), so the answers compare.
    let in_tree = format!("namespace=fraud&size={}", c.size);
    for seq in [search, c.size + 1_000] {
        let r = proof(&app, &seq.to_string(), &in_tree, &ana).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{seq}");
        let body: Value = r.json().await.unwrap();
        missing.push(
            body["error"]["message"]
                .as_str()
                .unwrap()
                // The number only where it names the event (it may also be
                // a digit of the tree's size).
                .replacen(&format!("event {seq} "), "event N ", 1),
        );
    }
    assert_eq!(missing[0], missing[1], "another's event reads as no event");
    let r = proof(&app, &search.to_string(), "namespace=search", &ana).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "search is hidden from ana"
    );
    let r = proof(&app, &fraud.to_string(), "", &ana).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // No such tree, no such event, no such number.
    for (seq, query, status) in [
        ("1", format!("size={}", c.size + 7), StatusCode::NOT_FOUND),
        (
            &*(c.size + 1).to_string(),
            format!("size={}", c.size),
            StatusCode::NOT_FOUND,
        ),
        ("0", String::new(), StatusCode::BAD_REQUEST),
        ("-3", String::new(), StatusCode::BAD_REQUEST),
        ("x", String::new(), StatusCode::BAD_REQUEST),
        ("1", "size=x".to_owned(), StatusCode::BAD_REQUEST),
        ("1", "sizes=3".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let r = proof(&app, seq, &query, &app.admin).await;
        assert_eq!(r.status(), status, "{seq} {query}");
    }
}

/// The Go verifier, built once per run from `tests/go/tlog-verify` with
/// Debian's Go and golang.org/x/mod (offline); `None` only when the run opted
/// out of external servers and tools.
fn go_verifier() -> Option<PathBuf> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let go = match std::env::var("SIGNET_TEST_GO") {
        Ok(go) => go,
        Err(_) if crate::helpers::postgres_opted_out() => return None,
        Err(_) => crate::helpers::not_configured("SIGNET_TEST_GO"),
    };
    Some(
        BUILT
            .get_or_init(|| {
                let dir =
                    std::env::temp_dir().join(format!("signet-tlog-verify-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let out = dir.join("tlog-verify");
                let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/tlog-verify");
                let built = std::process::Command::new(go)
                    .args(["build", "-o"])
                    .arg(&out)
                    .arg(".")
                    .current_dir(src)
                    .env("GO111MODULE", "off")
                    .env("GOPATH", "/usr/share/gocode")
                    .env("GOPROXY", "off")
                    .env("GOTOOLCHAIN", "local")
                    .env("GOCACHE", dir.join("cache"))
                    .output()
                    .unwrap();
                assert!(
                    built.status.success(),
                    "go build: {}",
                    String::from_utf8_lossy(&built.stderr)
                );
                out
            })
            .clone(),
    )
}

/// Runs the Go verifier against `app`; answers its exit code and output.
async fn go_verify(verifier: &Path, app: &TestApp, vkey: &str, args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(verifier)
        .args(["-url", &app.base, "-token", &app.admin, "-key", vkey])
        .args(args)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `signet ARGS` as the admin of `app`, in `dir`.
async fn client(app: &TestApp, dir: &Path, args: &[&str]) -> crate::cli::Run {
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    crate::cli::signet(dir, args, "", &env).await
}

async fn an_outside_verifier_in_go_checks_the_log_and_the_client_agrees(b: Backend) {
    let Some(go) = go_verifier() else { return };
    let app = TestApp::spawn(b).await;
    let dir = tempfile::tempdir().unwrap();
    app.given_draft().await;
    let key = registry_key(&app).await;
    let (_, vkey) = text(&app, "/v1/audit/log/key").await;
    std::fs::write(dir.path().join("log.vkey"), &vkey).unwrap();
    let (old, note) = checkpoint_of(&app, &key, head(&app).await).await;
    std::fs::write(dir.path().join("old.txt"), &note).unwrap();
    // A path near the longest a request may have: its event records a
    // bounded part, so its entry fits a bundle.
    let long = format!("/v1/models/fraud/{}", "a".repeat(65_400));
    let r = app.req(Method::GET, &long).send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // Past a full tile, so full and partial tiles on two levels are read.
    events(&app, 280).await;
    let (c, note) = checkpoint_of(&app, &key, head(&app).await).await;
    assert!(c.size > old.size + 256);
    std::fs::write(dir.path().join("new.txt"), &note).unwrap();
    let old_file = dir.path().join("old.txt");
    let args = ["-entries", "-old", old_file.to_str().unwrap()];
    let (code, out) = go_verify(&go, &app, vkey.trim(), &args).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every entry included"), "{out}");
    // Another key pinned: Go refuses the checkpoint.
    let other = signet::tlog::note::LogKey::new(
        "signet-test/audit",
        ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
    )
    .unwrap();
    let (code, out) = go_verify(&go, &app, &other.verifier_key(), &[]).await;
    assert_eq!(code, 1, "{out}");
    // The client agrees: an event proven, an export rebuilt to the root.
    let r = client(
        &app,
        dir.path(),
        &["audit", "prove", "3", "--log-key", "log.vkey"],
    )
    .await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("event 3 is in the log"), "{}", r.stdout);
    let r = client(&app, dir.path(), &["audit", "export", "--out", "all.jsonl"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rebuild = [
        "audit",
        "verify",
        "--file",
        "all.jsonl",
        "--checkpoint",
        "new.txt",
        "--log-key",
        "log.vkey",
    ];
    let r = client(&app, dir.path(), &rebuild).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // A filtered export is not the log.
    let r = client(
        &app,
        dir.path(),
        &[
            "audit",
            "export",
            "--namespace",
            "fraud",
            "--out",
            "fraud.jsonl",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut filtered = rebuild;
    filtered[3] = "fraud.jsonl";
    let r = client(&app, dir.path(), &filtered).await;
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
}

/// A database edit after a checkpoint: `tamper` changes the events; the
/// inclusion checks (Go's over the entries, the client's over an event and
/// over an export) fail at once. Then whoever edited rewrites the tree to
/// match and the registry signs it: the consistency checks from the old
/// checkpoint (Go's and the client's) fail.
async fn tampering_shows(b: Backend, tamper: &[&str]) {
    let Some(go) = go_verifier() else { return };
    let app = TestApp::spawn(b).await;
    let dir = tempfile::tempdir().unwrap();
    app.given_draft().await;
    events(&app, 12).await;
    let key = registry_key(&app).await;
    let (_, vkey) = text(&app, "/v1/audit/log/key").await;
    std::fs::write(dir.path().join("log.vkey"), &vkey).unwrap();
    let (old, note) = checkpoint_of(&app, &key, head(&app).await).await;
    std::fs::write(dir.path().join("old.txt"), &note).unwrap();
    let old_file = dir.path().join("old.txt");
    let (code, out) = go_verify(&go, &app, vkey.trim(), &["-entries"]).await;
    assert_eq!(code, 0, "before: {out}");
    for stmt in tamper {
        app.sql(stmt).await;
    }
    let (code, out) = go_verify(&go, &app, vkey.trim(), &["-entries"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not in the signed tree"), "{out}");
    let r = client(
        &app,
        dir.path(),
        &["audit", "prove", "5", "--log-key", "log.vkey"],
    )
    .await;
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("is not in the log"), "{}", r.stderr);
    let r = client(&app, dir.path(), &["audit", "export", "--out", "all.jsonl"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = client(
        &app,
        dir.path(),
        &[
            "audit",
            "verify",
            "--file",
            "all.jsonl",
            "--checkpoint",
            "old.txt",
            "--log-key",
            "log.vkey",
        ],
    )
    .await;
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    // The tree rewritten from the edited events, and signed again.
    // In one transaction that takes the tree head's row first, as the
    // replicas growing the tree do: a growth in flight finishes before it,
    // and none leaves nodes behind it.
    app.sql(
        "BEGIN; UPDATE audit_tree_head SET size = 0; DELETE FROM audit_tree; \
         DELETE FROM audit_checkpoints; COMMIT;",
    )
    .await;
    let rewritten = eventually(|| async {
        let (_, note) = text(&app, "/v1/audit/log/checkpoint").await;
        key.open(&note).unwrap().size >= old.size
    })
    .await;
    assert!(rewritten, "the registry signs the rewritten tree");
    let (code, out) = go_verify(
        &go,
        &app,
        vkey.trim(),
        &["-old", old_file.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rewritten"), "{out}");
    let r = client(
        &app,
        dir.path(),
        &[
            "audit",
            "verify",
            "--since",
            "old.txt",
            "--log-key",
            "log.vkey",
        ],
    )
    .await;
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
}

async fn an_edited_event_shows_in_go_and_in_the_client(b: Backend) {
    tampering_shows(
        b,
        &["UPDATE audit_events SET client_addr = '10.6.6.6' WHERE seq = 5"],
    )
    .await;
}

async fn a_removed_event_shows_in_go_and_in_the_client(b: Backend) {
    // Removed, and the events after it renumbered so the log has no gap.
    tampering_shows(
        b,
        &[
            "DELETE FROM audit_events WHERE seq = 5",
            "UPDATE audit_events SET seq = -seq WHERE seq > 5",
            "UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0",
            "UPDATE audit_head SET seq = seq - 1",
        ],
    )
    .await;
}

async fn reordered_events_show_in_go_and_in_the_client(b: Backend) {
    tampering_shows(
        b,
        &[
            "UPDATE audit_events SET seq = -5 WHERE seq = 5",
            "UPDATE audit_events SET seq = 5 WHERE seq = 6",
            "UPDATE audit_events SET seq = 6 WHERE seq = -5",
        ],
    )
    .await;
}

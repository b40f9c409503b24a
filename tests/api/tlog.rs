//! The transparency log: checkpoints of the access log's Merkle tree, signed
//! with the log key, that an auditor checks against the events it exported;
//! where the key comes from on each backend; a checkpoint checked by the
//! client with a pinned key.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use signet::tlog::note::{Checkpoint, NoteVerifier};
use signet::tlog::{Hash, leaf_hash, node_hash};

use crate::helpers::{Backend, TestApp, eventually};

crate::on_both_backends!(
    checkpoints_are_signed_by_the_log_key_and_commit_to_every_event,
    the_log_key_is_the_operators_and_never_the_databases,
    the_client_checks_a_checkpoint_with_the_pinned_key,
    the_client_proves_the_log_only_grew_and_sees_a_rewrite,
);

pub(crate) async fn text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app.req(Method::GET, path).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// RFC 6962's Merkle Tree Hash of these leaf hashes, from scratch.
pub(crate) fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => signet::tlog::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - (n - 1).leading_zeros() - 1);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The export's lines, oldest first.
pub(crate) async fn exported(app: &TestApp) -> Vec<String> {
    let (status, body) = text(app, "/v1/audit/export").await;
    assert_eq!(status, StatusCode::OK);
    body.lines().map(str::to_owned).collect()
}

/// A checkpoint of at least `size` events, opened with the registry's key.
pub(crate) async fn checkpoint_of(
    app: &TestApp,
    key: &NoteVerifier,
    size: u64,
) -> (Checkpoint, String) {
    let latest = || async {
        let (status, note) = text(app, "/v1/audit/log/checkpoint").await;
        assert_eq!(status, StatusCode::OK, "{note}");
        let c = key
            .open(&note)
            .expect("the checkpoint opens with the log key");
        (c, note)
    };
    let reached = eventually(|| async { latest().await.0.size >= size }).await;
    assert!(reached, "no checkpoint of {size} events within 15 s");
    latest().await
}

pub(crate) async fn registry_key(app: &TestApp) -> NoteVerifier {
    let (status, vkey) = text(app, "/v1/audit/log/key").await;
    assert_eq!(status, StatusCode::OK, "{vkey}");
    NoteVerifier::parse(&vkey).unwrap()
}

async fn checkpoints_are_signed_by_the_log_key_and_commit_to_every_event(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_draft().await;
    let key = registry_key(&app).await;
    assert_eq!(key.name(), "signet-test/audit");
    let head: Value = app
        .req(Method::GET, "/v1/audit/verify")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seq = head["head"]["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("{head}"));
    let (c, note) = checkpoint_of(&app, &key, seq).await;
    assert_eq!(c.origin, "signet-test/audit");
    assert!(note.starts_with("signet-test/audit\n"), "{note}");
    // The root is the tree of the export's lines, each line a leaf.
    let lines = exported(&app).await;
    assert!(lines.len() as u64 >= c.size);
    let leaves: Vec<Hash> = lines
        .iter()
        .take(c.size as usize)
        .map(|l| leaf_hash(l.as_bytes()))
        .collect();
    assert_eq!(mth(&leaves), c.root);
    // Edited after the checkpoint, the log no longer hashes to what was signed.
    app.sql("UPDATE audit_events SET client_addr = '10.9.9.9' WHERE seq = 2")
        .await;
    let lines = exported(&app).await;
    let leaves: Vec<Hash> = lines
        .iter()
        .take(c.size as usize)
        .map(|l| leaf_hash(l.as_bytes()))
        .collect();
    assert_ne!(mth(&leaves), c.root, "an edit shows");
    // A note of another key does not open with the registry's.
    let other = signet::tlog::note::LogKey::new(
        "signet-test/audit",
        ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]),
    )
    .unwrap();
    let forged = other.sign(&Checkpoint {
        root: [0u8; 32],
        ..c.clone()
    });
    assert!(key.open(&forged).is_err());
}

async fn the_log_key_is_the_operators_and_never_the_databases(b: Backend) {
    match b {
        // The embedded default keeps a key it made in its data directory,
        // readable by its owner only, and the same one after a restart.
        Backend::Sqlite => {
            let app = TestApp::spawn(b).await;
            let before = registry_key(&app).await;
            let path = app.data_dir().join("log-key.pem");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }
            let app = app.restart().await;
            let after = registry_key(&app).await;
            assert_eq!(format!("{before:?}"), format!("{after:?}"));
        }
        // PostgreSQL without a key file: the log's routes say why.
        Backend::Postgres => {
            let app = TestApp::spawn_with(b, |cfg| cfg.log_key_file = None).await;
            for path in ["/v1/audit/log/checkpoint", "/v1/audit/log/key"] {
                let r = app.req(Method::GET, path).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["error"]["code"], "log_unavailable");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains("SIGNET_LOG_KEY_FILE"), "{message}");
            }
            // Without a tree, nothing is archived: archived events could
            // never become leaves.
            app.given_draft().await;
            let store = &*app.store;
            let refused = signet::audit::archive(store, store, 2, &mut Vec::new()).await;
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.contains("tree holds the first 0 events"),
                "{message}"
            );
        }
    }
}

async fn the_client_checks_a_checkpoint_with_the_pinned_key(b: Backend) {
    let app = TestApp::spawn(b).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = crate::cli::signet(dir.path(), &["audit", "log-key"], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(dir.path().join("log.vkey"), &r.stdout).unwrap();
    let args = [
        "audit",
        "checkpoint",
        "--log-key",
        "log.vkey",
        "--out",
        "cp.txt",
    ];
    let r = crate::cli::signet(dir.path(), &args, "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("signed by signet-test/audit"),
        "{}",
        r.stdout
    );
    let saved = std::fs::read_to_string(dir.path().join("cp.txt")).unwrap();
    assert!(registry_key(&app).await.open(&saved).is_ok());
    // Another key pinned: refused, exit 5.
    let other = signet::tlog::note::LogKey::new(
        "signet-test/audit",
        ed25519_dalek::SigningKey::from_bytes(&[6u8; 32]),
    )
    .unwrap();
    let args = ["audit", "checkpoint", "--log-key", &other.verifier_key()];
    let r = crate::cli::signet(dir.path(), &args, "", &env).await;
    assert_eq!(r.code, 5, "{}", r.stdout);
    assert!(r.stderr.contains("pinned log key"), "{}", r.stderr);
}

async fn the_client_proves_the_log_only_grew_and_sees_a_rewrite(b: Backend) {
    let app = TestApp::spawn(b).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let key = registry_key(&app).await;
    app.given_draft().await;
    let (old, note) = checkpoint_of(&app, &key, 3).await;
    std::fs::write(dir.path().join("old.txt"), &note).unwrap();
    std::fs::write(
        dir.path().join("log.vkey"),
        text(&app, "/v1/audit/log/key").await.1,
    )
    .unwrap();
    // The log grows; the proof from the old checkpoint to the newest holds.
    app.create_version("fraud", "scorer", serde_json::json!({}))
        .await;
    checkpoint_of(&app, &key, old.size + 2).await;
    let verify = [
        "audit",
        "verify",
        "--since",
        "old.txt",
        "--log-key",
        "log.vkey",
    ];
    let r = crate::cli::signet(dir.path(), &verify, "", &env).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("the log only grew"), "{}", r.stdout);
    // Whoever writes the database rewrites the tree: the next check fails.
    app.sql(
        "UPDATE audit_tree SET hash = (SELECT hash FROM audit_tree WHERE level = 0 AND idx = 0) \
         WHERE NOT (level = 0 AND idx = 0)",
    )
    .await;
    let r = crate::cli::signet(dir.path(), &verify, "", &env).await;
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("rewritten"), "{}", r.stderr);
    // A proof past the newest checkpoint, or backwards, does not exist.
    for q in ["from=0&to=999999", "from=3&to=2"] {
        let r = app
            .req(Method::GET, &format!("/v1/audit/log/consistency?{q}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{q}");
    }
}

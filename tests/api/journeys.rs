//! A deployer's journey through the `signet` binary: refusals that say why,
//! pinned keys held to the registry's revocations, redeploys into the same
//! directory, and verification that names what changed.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{Run, signet};
use crate::helpers::{Backend, Signer, TestApp, full_lineage, safetensors_bytes};

crate::on_both_backends!(
    a_pull_the_gate_refuses_says_why_once_and_leaves_nothing,
    a_pinned_key_the_registry_revoked_no_longer_verifies_a_pull,
    a_redeploy_into_the_same_directory_just_works,
    verify_names_each_changed_missing_or_extra_file,
    an_auditor_follows_the_readme_with_a_namespace_role,
);

/// A pickle that calls `os.system`.
const PICKLE: &[u8] =
    b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.";

/// The client, signed in to `app` with `token`, working in `dir`.
async fn run(app: &TestApp, token: &str, dir: &Path, args: &[&str]) -> Run {
    signet(
        dir,
        args,
        "",
        &[("SIGNET_URL", &app.base), ("SIGNET_TOKEN", token)],
    )
    .await
}

/// The `--json` answer of a command that must succeed.
async fn json_as(app: &TestApp, token: &str, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = run(app, token, dir, &all).await;
    assert_eq!(r.code, 0, "signet {args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// A sealed version of fraud/scorer holding `files`, signed by `key`.
async fn signed(app: &TestApp, key: &Signer, files: &[(&str, &[u8])]) -> i64 {
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), files)
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v, &key.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );
    v
}

async fn setup(b: Backend) -> (TestApp, Signer, String, tempfile::TempDir) {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    let key = Signer::generate();
    assert_eq!(
        key.register(&app, "ci-fraud", &["fraud"]).await.status(),
        StatusCode::CREATED
    );
    let deployer = app.member_token("deploy-bot", "fraud", "deployer").await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ci.pub"), &key.pem).unwrap();
    (app, key, deployer, work)
}

async fn a_pull_the_gate_refuses_says_why_once_and_leaves_nothing(b: Backend) {
    let (app, key, deployer, work) = setup(b).await;
    let v = signed(&app, &key, &[("model.pkl", PICKLE)]).await;
    let target = format!("fraud/scorer@{v}");
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &target, "model", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 4, "refused by policy: {}", r.stderr);
    assert_eq!(
        r.stderr.matches("unsafe_format:").count(),
        1,
        "each reason once: {}",
        r.stderr
    );
    assert!(r.stderr.contains("model.pkl (pickle"), "{}", r.stderr);
    assert!(!work.path().join("model").exists());
    // As JSON: the codes and their details.
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["--json", "pull", &target, "model", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 4);
    let out: Value = serde_json::from_str(r.stdout.trim())
        .unwrap_or_else(|_| serde_json::from_str(r.stderr.trim()).expect("a JSON error"));
    assert_eq!(out["error"]["reasons"], json!(["unsafe_format"]));
    assert_eq!(out["error"]["details"][0]["files"][0]["path"], "model.pkl");
}

async fn a_pinned_key_the_registry_revoked_no_longer_verifies_a_pull(b: Backend) {
    let (app, key, deployer, work) = setup(b).await;
    let other = Signer::generate();
    assert_eq!(
        other.register(&app, "release", &["fraud"]).await.status(),
        StatusCode::CREATED
    );
    let w = safetensors_bytes();
    let (v, st) = app
        .sealed_version("fraud", "scorer", full_lineage(), &[("m.safetensors", &w)])
        .await;
    for k in [&key, &other] {
        assert_eq!(
            app.sign("fraud", "scorer", v, &k.envelope(&st))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let target = format!("fraud/scorer@{v}");
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &target, "before", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Retired after it signed: its signature still counts.
    let revoke = |keyid: String, reason: &'static str| {
        let app = &app;
        async move {
            let r = app
                .req(Method::POST, &format!("/v1/keys/{keyid}/revoke"))
                .json(&json!({"reason": reason, "note": "rotated"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    };
    revoke(key.keyid.clone(), "retired").await;
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &target, "retired", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(
        r.code, 0,
        "a signature made before the retirement counts: {}",
        r.stderr
    );

    // Compromised: the registry still calls the version verified (another key
    // signed it), but the pinned key's signature no longer counts here.
    revoke(key.keyid.clone(), "compromised").await;
    let ver: Value = app
        .get_version("fraud", "scorer", v)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ver["verified"], true);
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &target, "after", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("ci-fraud"), "names the key: {}", r.stderr);
    assert!(
        r.stderr.contains("compromised"),
        "and its revocation: {}",
        r.stderr
    );
    assert!(
        !work.path().join("after").exists(),
        "nothing at the destination"
    );
    // Offline, the directory pulled before still verifies; online it does not.
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["verify", "before", "--key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["verify", "before", "--key", "ci.pub", "--online"],
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("compromised"), "{}", r.stderr);
    // The other key, pinned as well, still carries the pull.
    std::fs::write(work.path().join("release.pub"), &other.pem).unwrap();
    let r = run(
        &app,
        &deployer,
        work.path(),
        &[
            "pull",
            &target,
            "after",
            "--trust-key",
            "ci.pub",
            "--trust-key",
            "release.pub",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&other.keyid), "{}", r.stdout);

    // A key that never signed: the message says who did and what was pinned.
    let stranger = Signer::generate();
    std::fs::write(work.path().join("stranger.pub"), &stranger.pem).unwrap();
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &target, "x", "--trust-key", "stranger.pub"],
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("release"), "who signed: {}", r.stderr);
    assert!(
        r.stderr.contains(&stranger.keyid),
        "what was pinned: {}",
        r.stderr
    );
    // A missing version through a number is not found (3), not a signature failure.
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", "fraud/scorer@99", "x", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
}

fn files_of(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

async fn a_redeploy_into_the_same_directory_just_works(b: Backend) {
    let (app, key, deployer, work) = setup(b).await;
    let v1 = signed(&app, &key, &[("one.bin", b"first")]).await;
    let v2 = signed(&app, &key, &[("two.bin", b"second")]).await;
    assert_eq!(
        app.promote("fraud", "scorer", "production", v1)
            .await
            .status(),
        StatusCode::OK
    );
    let pull = [
        "pull",
        "fraud/scorer@production",
        "srv",
        "--trust-key",
        "ci.pub",
    ];
    let r = run(&app, &deployer, work.path(), &pull).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("fraud/scorer@production → {v1}")),
        "{}",
        r.stdout
    );
    let srv = work.path().join("srv");
    assert_eq!(files_of(&srv), ["model.sig", "one.bin"]);

    // The same again: nothing to do.
    let r = run(&app, &deployer, work.path(), &pull).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("already at fraud/scorer@{v1}")),
        "{}",
        r.stdout
    );

    // production moves: the new version takes the old one's place.
    assert_eq!(
        app.promote("fraud", "scorer", "production", v2)
            .await
            .status(),
        StatusCode::OK
    );
    let r = run(&app, &deployer, work.path(), &pull).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(files_of(&srv), ["model.sig", "two.bin"]);
    assert!(!work.path().join("srv.previous").exists());
    let leftovers: Vec<String> = files_of(work.path())
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no staging left: {leftovers:?}");

    // Back to v1, keeping v2 beside it.
    let back = format!("fraud/scorer@{v1}");
    let r = run(
        &app,
        &deployer,
        work.path(),
        &[
            "pull",
            &back,
            "srv",
            "--trust-key",
            "ci.pub",
            "--keep-previous",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(files_of(&srv), ["model.sig", "one.bin"]);
    assert_eq!(
        files_of(&work.path().join("srv.previous")),
        ["model.sig", "two.bin"]
    );

    // A directory of something else is refused, and kept, unless forced.
    let other = work.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &back, "other", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(files_of(&other), ["notes.txt"]);
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &back, "other", "--trust-key", "ci.pub", "--force"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(files_of(&other), ["model.sig", "one.bin"]);
    // A pulled directory someone changed is not a verified pull any more.
    std::fs::write(srv.join("one.bin"), b"tampered").unwrap();
    let r = run(&app, &deployer, work.path(), &pull).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(std::fs::read(srv.join("one.bin")).unwrap(), b"tampered");
}

async fn verify_names_each_changed_missing_or_extra_file(b: Backend) {
    let (app, key, deployer, work) = setup(b).await;
    let v = signed(
        &app,
        &key,
        &[("a.bin", b"aaa"), ("b.bin", b"bbb"), ("c.bin", b"ccc")],
    )
    .await;
    let target = format!("fraud/scorer@{v}");
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["pull", &target, "m", "--trust-key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = work.path().join("m");
    std::fs::write(m.join("a.bin"), b"AAA").unwrap();
    std::fs::remove_file(m.join("b.bin")).unwrap();
    std::fs::write(m.join("d.bin"), b"new").unwrap();
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["verify", "m", "--key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    for line in ["changed: a.bin", "missing: b.bin", "extra: d.bin"] {
        assert!(r.stderr.contains(line), "{line}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("c.bin"), "{}", r.stderr);
    // A directory without its signature: a usage error naming the file.
    let plain = work.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let r = run(
        &app,
        &deployer,
        work.path(),
        &["verify", "plain", "--key", "ci.pub"],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("model.sig"), "{}", r.stderr);
}

async fn an_auditor_follows_the_readme_with_a_namespace_role(b: Backend) {
    let (app, key, deployer, work) = setup(b).await;
    let auditor = app.member_token("audit-bot", "fraud", "auditor").await;
    let lineage_less = {
        let (v, st) = app
            .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"w")])
            .await;
        app.sign("fraud", "scorer", v, &key.envelope(&st)).await;
        v
    };
    // A refused promotion, with the approver's reason, and a refused pull.
    let approver = app.member_token("approve-bot", "fraud", "approver").await;
    let r = app
        .anon(Method::PUT, "/v1/models/fraud/scorer/aliases/production")
        .bearer_auth(&approver)
        .json(&json!({"version": lineage_less, "reason": "ship it friday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let pickled = signed(&app, &key, &[("model.pkl", PICKLE)]).await;
    let r = app
        .anon(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{pickled}/files/model.pkl"),
        )
        .bearer_auth(&deployer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // --model names the namespace: no --namespace needed.
    let args = [
        "audit",
        "search",
        "--model",
        "fraud/scorer",
        "--outcome",
        "refused",
    ];
    let found = json_as(&app, &auditor, work.path(), &args).await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    let (pull, promotion) = (&items[0], &items[1]);
    assert_eq!(promotion["outcome"], "refused");
    assert_eq!(promotion["status"], 409);
    let detail: Value = serde_json::from_str(promotion["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["refused"], json!(["lineage_incomplete"]));
    assert_eq!(detail["reason"], "ship it friday");
    let detail: Value = serde_json::from_str(pull["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["refused"], json!(["unsafe_format"]));
    assert_eq!(pull["status"], 403);
    // The denied outcome is access only.
    let r = run(
        &app,
        &auditor,
        work.path(),
        &[
            "--json",
            "audit",
            "search",
            "--model",
            "fraud/scorer",
            "--outcome",
            "denied",
        ],
    )
    .await;
    let found: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] != 409),
        "{found}"
    );
    // A model of another namespace beside --namespace: the filters hold
    // together, so nothing matches.
    let args = [
        "audit",
        "search",
        "--namespace",
        "fraud",
        "--model",
        "other/scorer",
    ];
    let found = json_as(&app, &auditor, work.path(), &args).await;
    assert_eq!(found["items"], json!([]));

    // The export is in chain order: its last line is the newest event.
    let r = run(
        &app,
        &auditor,
        work.path(),
        &[
            "audit",
            "export",
            "--model",
            "fraud/scorer",
            "--out",
            "fraud.jsonl",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seqs: Vec<i64> = std::fs::read_to_string(work.path().join("fraud.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        seqs.len() > 3 && seqs.windows(2).all(|w| w[0] < w[1]),
        "{seqs:?}"
    );

    // The namespace's auditor checks the whole log, learning only its head
    // and the namespace's count.
    let args = ["audit", "verify", "--namespace", "fraud"];
    let report = json_as(&app, &auditor, work.path(), &args).await;
    assert_eq!(report["ok"], true);
    assert_eq!(report["namespace"], "fraud");
    let head = report["head"]["seq"].as_i64().unwrap();
    let counted = report["checked"].as_i64().unwrap();
    assert!(counted > 0 && counted < head, "{report}");
    let r = run(&app, &auditor, work.path(), &["audit", "verify"]).await;
    assert_eq!(r.code, 1, "a namespace must be named: {}", r.stderr);
    let r = run(
        &app,
        &auditor,
        work.path(),
        &["audit", "verify", "--namespace", "elsewhere"],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    // Broken anywhere, it fails for the namespace's auditor too, without
    // saying where.
    app.sql("UPDATE audit_events SET principal = 'nobody' WHERE seq = 2")
        .await;
    let r = run(
        &app,
        &auditor,
        work.path(),
        &["--json", "audit", "verify", "--namespace", "fraud"],
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let admin = run(
        &app,
        &app.admin,
        work.path(),
        &["--json", "audit", "verify"],
    )
    .await;
    assert_eq!(admin.code, 5);
}

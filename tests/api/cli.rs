//! The `signet` client, run as a pipeline runs it, against the real service:
//! sign in, make a key, register it, sign a sealed version locally, promote.
//! Every failure ends with the exit code of its kind.

use std::path::Path;
use std::process::Stdio;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, Signer, TestApp, full_lineage};

crate::on_both_backends!(
    a_pipeline_signs_and_promotes_with_the_client_alone,
    client_failures_end_with_the_exit_code_of_their_kind,
);

/// What one run of the client gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `signet ARGS` with its configuration in `config` and `stdin` as input;
/// `env` adds variables.
async fn signet(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"));
    cmd.args(args)
        .env("SIGNET_CONFIG_DIR", config)
        .env_remove("SIGNET_URL")
        .env_remove("SIGNET_TOKEN")
        .current_dir(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn a_pipeline_signs_and_promotes_with_the_client_alone(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, _) = app
        .sealed_version(&ns, &model, full_lineage(), &[("model.bin", b"weights")])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path();
    let target = format!("{ns}/{model}@{v}");

    // Sign in: the token comes on stdin, lands in a file only its owner
    // reads, and is never printed.
    let r = signet(
        cfg,
        &["login", "--server", &app.base],
        &format!("{}\n", app.admin),
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("as admin"), "{}", r.stdout);
    assert!(!format!("{}{}", r.stdout, r.stderr).contains(&app.admin));
    let credentials = cfg.join("credentials.json");
    #[cfg(unix)]
    assert_eq!(mode(&credentials), 0o600);

    // A key pair; the private half is its owner's alone.
    for alg in ["ed25519", "ecdsa-p256"] {
        let r = signet(cfg, &["keygen", "--algorithm", alg, "--out", alg], "", &[]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        #[cfg(unix)]
        assert_eq!(mode(&cfg.join(format!("{alg}.key"))), 0o600);
        let r = signet(
            cfg,
            &[
                "--json",
                "key",
                "register",
                &format!("{alg}.pub"),
                "--namespace",
                &ns,
            ],
            "",
            &[],
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let key: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(key["name"], alg);
    }

    // Before signing, the gate refuses, and says why.
    let r = signet(cfg, &["promote", &target, "production"], "", &[]).await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("unsigned"), "{}", r.stderr);

    // Signed here, with keys that never left this directory.
    for alg in ["ed25519", "ecdsa-p256"] {
        let r = signet(
            cfg,
            &["sign", &target, "--key", &format!("{alg}.key")],
            "",
            &[],
        )
        .await;
        assert_eq!(r.code, 0, "{alg}: {}", r.stderr);
        assert!(r.stdout.contains("verified"), "{}", r.stdout);
    }
    let r = signet(
        cfg,
        &[
            "--json",
            "promote",
            &target,
            "production",
            "--reason",
            "nightly",
        ],
        "",
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let version: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(version["verified"], true);
    assert_eq!(version["signatures"].as_array().unwrap().len(), 2);

    let alias = app
        .req(
            Method::GET,
            &format!("/v1/models/{ns}/{model}/aliases/production"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(alias.status(), StatusCode::OK);
    assert_eq!(alias.json::<Value>().await.unwrap()["version"], v);

    // Signed out, the client no longer has a token.
    let r = signet(cfg, &["logout"], "", &[]).await;
    assert_eq!(r.code, 0);
    assert!(!credentials.exists());
    let r = signet(cfg, &["promote", &target, "staging"], "", &[]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not signed in"), "{}", r.stderr);
}

async fn client_failures_end_with_the_exit_code_of_their_kind(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, _) = app
        .sealed_version(&ns, &model, full_lineage(), &[("model.bin", b"weights")])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let target = format!("{ns}/{model}@{v}");
    let r = signet(cfg, &["keygen", "--out", "k"], "", &[]).await;
    assert_eq!(r.code, 0);

    // Usage: a target that is not one, an alias where a version is needed, a
    // key file that is already there, an unknown algorithm.
    for args in [
        vec!["sign", "fraud-scorer", "--key", "k.key"],
        vec!["sign", "fraud/scorer@production", "--key", "k.key"],
        vec!["keygen", "--out", "k"],
        vec!["keygen", "--algorithm", "rsa", "--out", "r"],
        vec!["promote", &target],
    ] {
        let r = signet(cfg, &args, "", &env).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }

    // Not found, or not allowed: a model that is not there, a bad token, a
    // reader promoting.
    let r = signet(
        cfg,
        &["promote", &format!("{ns}/absent@1"), "production"],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    let bad = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", "sgn_not-a-token-of-this-registry-0000000"),
    ];
    let r = signet(cfg, &["promote", &target, "production"], "", &bad).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    let reader = app.member_token("rita", &ns, "reader").await;
    let as_reader = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", reader.as_str()),
    ];
    let r = signet(cfg, &["promote", &target, "production"], "", &as_reader).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!r.stderr.contains(&reader), "the token was printed");

    // Verification failed: a key the registry does not trust.
    let r = signet(
        cfg,
        &["--json", "sign", &target, "--key", "k.key"],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let e: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(e["error"]["code"], "untrusted_key");
    assert_eq!(e["error"]["exit_code"], 5);

    // Refused by policy: a key revoked as compromised takes its signature
    // with it.
    let signer = Signer::generate();
    assert_eq!(signer.register(&app, "ci", &[&ns]).await.status(), 201);
    std::fs::write(cfg.join("ci.key"), signer.private_pem()).unwrap();
    let r = signet(cfg, &["sign", &target, "--key", "ci.key"], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", signer.keyid))
        .json(&serde_json::json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = signet(cfg, &["promote", &target, "production"], "", &env).await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("key_revoked"), "{}", r.stderr);

    // Not signed in at all.
    let r = signet(cfg, &["promote", &target, "production"], "", &[]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
}

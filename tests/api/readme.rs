//! The README's walk-throughs, run as printed: the client's (setup, a
//! pipeline's push, a CI job, a deployer's pull and redeploy, an auditor's
//! checks), the Teams section, the webhook's subscription and the attestation
//! rules' example, each shell block in a shell of its own
//! against a test server, so the documentation cannot drift from the product.
//!
//! Only what cannot be the reader's own is replaced: the registry's address
//! (`http://127.0.0.1:8080`, `https://registry.example:8080`) by the test
//! server's, the bootstrap token's placeholder (`sgn_…`) by the test's,
//! `/srv/` by a directory of the test, and `systemctl` (a service manager) by
//! a stand-in that notes the call. The curl walk-through's blocks share one
//! shell, as they share its variables. The files a block uses are
//! created by the blocks before it, as a reader following along would have
//! them; only the directory a pipeline trained into (`./out`) is made here.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, safetensors_bytes};

crate::on_both_backends!(
    the_readme_walk_throughs_run_as_printed,
    the_curl_walk_through_runs_as_printed,
    the_oci_walk_through_runs_as_printed,
);

/// The ```sh blocks of the README's section headed `heading`.
pub(crate) fn blocks_of(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?} in the README"));
    let rest = &readme[start + heading.len() + 5..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    section
        .split("```sh\n")
        .skip(1)
        .map(|b| b[..b.find("```").unwrap()].to_owned())
        .collect()
}

/// Runs one block in a shell of its own, in `dir`, with `env`; its output.
pub(crate) async fn run_block(
    block: &str,
    dir: &Path,
    env: &[(&str, String)],
    base: &str,
) -> String {
    let token = env
        .iter()
        .find(|(k, _)| *k == "TOKEN")
        .map_or("", |(_, v)| v.as_str());
    let script = block
        .replace("sgn_…", token)
        .replace("http://127.0.0.1:8080", base)
        .replace("https://registry.example:8080", base)
        .replace("127.0.0.1:8080", base.trim_start_matches("http://"))
        .replace("/srv/", &format!("{}/srv/", dir.display()));
    let prelude = "set -euo pipefail\nsystemctl() { echo \"systemctl $*\" >> systemctl.log; }\n";
    let signet = Path::new(env!("CARGO_BIN_EXE_signet"));
    let path = format!(
        "{}:{}",
        signet.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!("{prelude}{script}"))
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir.join("home"))
        .env_remove("SIGNET_URL")
        .env_remove("SIGNET_TOKEN")
        .env_remove("SIGNET_CONFIG_DIR")
        .env_remove("SIGNET_TRUST_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "this README block failed:\n{script}\n--- output:\n{text}"
    );
    text
}

async fn the_readme_walk_throughs_run_as_printed(b: Backend) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let client = blocks_of(&readme, "Walk-through with the `signet` client");
    let teams = blocks_of(&readme, "Teams, roles and tokens");
    assert!(client.len() >= 5, "{client:?}");
    assert_eq!(teams.len(), 1);
    let (setup, push, ci, deploy, audit) =
        (&client[0], &client[1], &client[2], &client[3], &client[4]);

    let app = TestApp::spawn(b).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    std::fs::create_dir_all(dir.join("srv")).unwrap();
    // What a training run left behind.
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.safetensors"), safetensors_bytes()).unwrap();
    std::fs::write(out.join("config.json"), br#"{"architectures": ["Scorer"]}"#).unwrap();
    std::fs::write(
        out.join("tokenizer.json"),
        br#"{"model": {"vocab": {"a": 0}}}"#,
    )
    .unwrap();

    let mut env = vec![("TOKEN", app.admin.clone())];
    run_block(setup, dir, &env, &app.base).await;
    // Twice: the setup can run again.
    run_block(
        setup.replace("signet keygen", "true").as_str(),
        dir,
        &env,
        &app.base,
    )
    .await;
    let shown = run_block(&teams[0], dir, &env, &app.base).await;
    assert!(shown.contains("ci-fraud"), "{shown}");

    let pushed = run_block(push, dir, &env, &app.base).await;
    assert!(pushed.contains("fraud/scorer@1"), "{pushed}");
    assert!(
        pushed.contains("promotion to production: passes"),
        "{pushed}"
    );

    // The tokens the Teams section minted, as a CI job and a deployer hold them.
    for (var, principal) in [
        ("PUBLISHER_TOKEN", "ci-fraud"),
        ("APPROVER_TOKEN", "release-manager"),
        ("DEPLOYER_TOKEN", "deploy-fraud"),
    ] {
        let t: Value = app
            .req(Method::POST, "/v1/tokens")
            .json(&json!({"principal": principal}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        env.push((var, t["token"].as_str().unwrap().to_owned()));
    }
    env.push(("SIGNING_KEY", "ci-fraud.key".to_owned()));
    env.push(("CI_PIPELINE_ID", "1842".to_owned()));
    run_block(ci, dir, &env, &app.base).await;
    let staged: Value = app
        .req(Method::GET, "/v1/models/fraud/scorer/aliases/staging")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(staged["version"], 2, "{staged}");

    // The deploy line, and the same again once production moved: a redeploy.
    let first = run_block(deploy, dir, &env, &app.base).await;
    assert!(first.contains("fraud/scorer@production → 1"), "{first}");
    let again = run_block(deploy, dir, &env, &app.base).await;
    assert!(again.contains("already at fraud/scorer@1"), "{again}");
    let r = app.promote("fraud", "scorer", "production", 2).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let moved = run_block(deploy, dir, &env, &app.base).await;
    assert!(moved.contains("fraud/scorer@production → 2"), "{moved}");
    let reloads = std::fs::read_to_string(dir.join("systemctl.log")).unwrap();
    assert_eq!(reloads.lines().count(), 3, "{reloads}");

    let audited = run_block(audit, dir, &env, &app.base).await;
    assert!(audited.contains("the access log verifies"), "{audited}");

    // A maintainer subscribes the namespace's deployment system.
    let hooks = blocks_of(&readme, "Webhooks: events for deployment systems");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let subscribed = run_block(&hooks[0], dir, &env, &app.base).await;
    assert!(
        subscribed.contains("signing secret (shown once"),
        "{subscribed}"
    );
    assert_eq!(
        subscribed
            .matches("https://deploy.example.com/hooks/signet")
            .count(),
        2,
        "made, then listed: {subscribed}"
    );

    // A maintainer requires an evaluation for production; the deployer pulls
    // only what the evaluation job's pinned key attested.
    let attest = blocks_of(&readme, "Attestations and promotion rules");
    assert_eq!(attest.len(), 2, "{attest:?}");
    let ruled = run_block(&attest[0], dir, &env, &app.base).await;
    assert!(ruled.contains("attestation_missing"), "{ruled}");
    assert!(ruled.contains("refused (exit 4)"), "{ruled}");
    assert!(ruled.contains("record verified"), "{ruled}");
    let pulled = run_block(&attest[1], dir, &env, &app.base).await;
    assert!(pulled.contains("already at fraud/scorer@2"), "{pulled}");
}

/// The OCI section's `sh` block, against a registry where `fraud/scorer@1` is
/// in production and `@2` unsigned, as the deployer (skopeo keeps its login in
/// the test's directory).
async fn the_oci_walk_through_runs_as_printed(b: Backend) {
    if std::env::var("SIGNET_TEST_SKOPEO").is_err() {
        if crate::helpers::postgres_opted_out() {
            return;
        }
        crate::helpers::not_configured("SIGNET_TEST_SKOPEO");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks = blocks_of(&readme, "Pulling with OCI tools");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let f = crate::oci::fixture(b).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let env = [
        ("DEPLOYER_TOKEN", f.deployer.clone()),
        (
            "REGISTRY_AUTH_FILE",
            dir.join("auth.json").display().to_string(),
        ),
    ];
    let out = run_block(&blocks[0], dir, &env, &f.app.base).await;
    // The tags the deployer may pull: not the unsigned v2.
    assert!(
        out.contains("\"production\"") && out.contains("\"v1\""),
        "{out}"
    );
    assert!(!out.contains("\"v2\""), "{out}");
    assert!(dir.join("scorer-oci/index.json").exists(), "{out}");
}

async fn the_curl_walk_through_runs_as_printed(b: Backend) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let curl = blocks_of(&readme, "Walk-through with curl").join("\n");
    let app = TestApp::spawn(b).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let out = run_block(&curl, dir, &[("TOKEN", app.admin.clone())], &app.base).await;
    assert!(
        out.contains("version_sealed"),
        "the sealed version refused the upload: {out}"
    );
    let v: Value = app
        .get_version("fraud", "scorer", 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "sealed", "{v}");
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["config.json", "weights/model.bin"]);
    assert_eq!(v["files"][1]["size"], 50_000_000);
}

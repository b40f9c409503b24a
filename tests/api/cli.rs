//! The `signet` client, run as a pipeline runs it, against the real service:
//! sign in, make a key, register it, sign a sealed version locally, promote.
//! Every failure ends with the exit code of its kind.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, Signer, TestApp, full_lineage, serve_on_loopback};

crate::on_both_backends!(
    a_pipeline_signs_and_promotes_with_the_client_alone,
    client_failures_end_with_the_exit_code_of_their_kind,
    a_deployer_pulls_only_what_its_pinned_keys_signed,
    an_interrupted_pull_resumes_where_it_stopped,
    a_pipeline_pushes_a_directory_signed_and_a_deployer_pulls_it_back,
    transient_failures_are_retried_and_lasting_ones_are_not_hidden,
    an_interrupted_push_resumes_from_the_committed_parts,
    an_auditor_searches_exports_and_verifies_the_log_offline,
    lineage_queries_answer_from_the_client,
    pull_and_verify_trust_the_keys_of_the_trust_directory,
);

/// A new key, registered for `ns`, that has signed version `v` (statement `st`).
async fn signed_by_a_new_key(app: &TestApp, ns: &str, model: &str, v: i64, st: &Value) -> Signer {
    let signer = Signer::generate();
    assert_eq!(signer.register(app, "ci", &[ns]).await.status(), 201);
    assert_eq!(
        app.sign(ns, model, v, &signer.envelope(st)).await.status(),
        201
    );
    signer
}

/// What one run of the client gave.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `signet ARGS` with its configuration in `config` and `stdin` as input;
/// `env` adds variables.
pub(crate) async fn signet(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
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
    // Without --algorithm: ECDSA P-256, which model_signing and cosign verify.
    let public = std::fs::read_to_string(cfg.join("k.pub")).unwrap();
    let key = signet::signing::keys::parse_public_key(&public).unwrap();
    assert_eq!(key.key.algorithm(), signet::kinds::Algorithm::EcdsaP256);

    // Usage too: a file the command line names that is not there.
    let missing = cfg.join("missing");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["sign", target.as_str(), "--key", missing],
        vec!["push", ".", &format!("{ns}/{model}"), "--lineage", missing],
        vec!["push", ".", &format!("{ns}/{model}"), "--metadata", missing],
        vec!["push", ".", &format!("{ns}/{model}"), "--sign", missing],
        vec!["pull", target.as_str(), "out", "--trust-key", missing],
        vec!["verify", ".", "--key", missing],
        vec!["key", "register", missing, "--namespace", ns.as_str()],
        vec!["audit", "verify", "--file", missing],
    ] {
        let r = signet(cfg, &args, "", &env).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("missing"), "{args:?}: {}", r.stderr);
    }

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

/// Sends a request on to `upstream` as it came (but for its host header);
/// returns the answer's status, headers and body.
/// The client a test proxy forwards with. Every request gets its own
/// connection: forwarding on a kept-alive one just as the registry closes it
/// as idle fails, and the proxy would break an exchange the test counts.
fn upstream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    parts: &axum::http::request::Parts,
    body: bytes::Bytes,
) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
    let mut headers = parts.headers.clone();
    headers.remove("host");
    let resp = client
        .request(parts.method.clone(), format!("{upstream}{}", parts.uri))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap())
}

/// An answer with `status`, the headers of `from` that describe content
/// (its length aside: the body may have changed), and `body`.
fn answer(
    status: u16,
    from: &reqwest::header::HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    let mut out = axum::http::Response::builder().status(status);
    for (k, v) in from {
        if !["transfer-encoding", "connection", "content-length"].contains(&k.as_str()) {
            out = out.header(k, v);
        }
    }
    out.body(body).unwrap()
}

/// Transforms what a proxy passes on: (request path, answer body) → the body
/// the client gets.
type Lie = Arc<dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync>;

/// A registry that lies: forwards every request to `upstream` and rewrites
/// the answers as `lie` says.
async fn lying_proxy(upstream: String, lie: Lie) -> String {
    let client = upstream_client();
    let handle = move |req: axum::extract::Request| {
        let (client, upstream, lie) = (client.clone(), upstream.clone(), lie.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let (status, headers, bytes) = forward(&client, &upstream, &parts, body).await;
            let told = lie(parts.uri.path(), bytes.to_vec());
            answer(status, &headers, axum::body::Body::from(told))
        }
    };
    serve_on_loopback(axum::Router::new().fallback(handle)).await
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

async fn a_deployer_pulls_only_what_its_pinned_keys_signed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let weights = crate::helpers::bytes_of(300_000, 9);
    let files: [(&str, &[u8]); 2] = [("model.bin", &weights), ("tok/vocab.txt", b"a b c")];
    let (v1, st1) = app
        .sealed_version(&ns, &model, full_lineage(), &files)
        .await;
    let (v2, st2) = app
        .sealed_version(
            &ns,
            &model,
            full_lineage(),
            &[("model.bin", b"other weights")],
        )
        .await;
    let signer = Signer::generate();
    let other = Signer::generate();
    assert_eq!(signer.register(&app, "ci", &[&ns]).await.status(), 201);
    assert_eq!(other.register(&app, "other", &[&ns]).await.status(), 201);
    for (v, st) in [(v1, &st1), (v2, &st2)] {
        assert_eq!(
            app.sign(&ns, &model, v, &signer.envelope(st))
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        app.sign(&ns, &model, v1, &other.envelope(&st1))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.promote(&ns, &model, "production", v1).await.status(),
        200
    );

    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    std::fs::write(cfg.join("pinned.pub"), &signer.pem).unwrap();
    let stranger = Signer::generate();
    std::fs::write(cfg.join("stranger.pub"), &stranger.pem).unwrap();
    let env = |base: &str| {
        vec![
            ("SIGNET_URL".to_owned(), base.to_owned()),
            ("SIGNET_TOKEN".to_owned(), app.admin.clone()),
        ]
    };
    let run = |args: Vec<String>, env: Vec<(String, String)>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        signet(cfg, &args, "", &env).await
    };
    let pull = |at: &str, dir: &str, key: &str| {
        vec![
            "pull".to_owned(),
            format!("{ns}/{model}@{at}"),
            dir.to_owned(),
            "--trust-key".to_owned(),
            key.to_owned(),
        ]
    };

    // The alias, verified against the pinned key: the files, and the
    // signature beside them.
    let r = run(pull("production", "prod", "pinned.pub"), env(&app.base)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let prod = cfg.join("prod");
    assert_eq!(std::fs::read(prod.join("model.bin")).unwrap(), weights);
    assert_eq!(std::fs::read(prod.join("tok/vocab.txt")).unwrap(), b"a b c");
    assert_eq!(
        tree(&prod),
        ["model.bin", "model.sig", "tok", "tok/vocab.txt"]
    );

    // Offline, later: the directory still verifies, and any change shows.
    let verify = |dir: &str, key: &str| {
        vec![
            "verify".to_owned(),
            dir.to_owned(),
            "--key".to_owned(),
            key.to_owned(),
        ]
    };
    let r = run(verify("prod", "pinned.pub"), vec![]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("{ns}/{model}@{v1}")),
        "{}",
        r.stdout
    );
    let r = run(verify("prod", "stranger.pub"), vec![]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    std::fs::write(prod.join("tok/extra.txt"), b"x").unwrap();
    assert_eq!(run(verify("prod", "pinned.pub"), vec![]).await.code, 5);
    std::fs::remove_file(prod.join("tok/extra.txt")).unwrap();
    std::fs::write(prod.join("tok/vocab.txt"), b"a b d").unwrap();
    assert_eq!(run(verify("prod", "pinned.pub"), vec![]).await.code, 5);
    std::fs::remove_file(prod.join("tok/vocab.txt")).unwrap();
    assert_eq!(run(verify("prod", "pinned.pub"), vec![]).await.code, 5);

    // A key the deployer does not pin is not enough, whatever the registry
    // says of it; a destination that is not empty is left alone.
    let r = run(
        pull(&v1.to_string(), "unpinned", "stranger.pub"),
        env(&app.base),
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(!cfg.join("unpinned").exists());
    let r = run(pull(&v1.to_string(), "prod", "pinned.pub"), env(&app.base)).await;
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Lying registries: other bytes, another version's signature, another
    // key's signature under the pinned key's name. Nothing reaches the
    // destination, and nothing is left beside it.
    let bundle_of = |signer: &Signer, v: i64| {
        let url = format!(
            "{}/v1/models/{ns}/{model}/versions/{v}/signatures/{}/bundle",
            app.base, signer.keyid
        );
        let (client, admin) = (app.client.clone(), app.admin.clone());
        async move {
            let r = client.get(url).bearer_auth(admin).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.bytes().await.unwrap().to_vec()
        }
    };
    let v2_bundle = bundle_of(&signer, v2).await;
    let others_bundle = bundle_of(&other, v1).await;
    let pinned_bundle_path = format!(
        "/v1/models/{ns}/{model}/versions/{v1}/signatures/{}/bundle",
        signer.keyid
    );
    let lies: Vec<(&str, Lie)> = vec![
        (
            "other bytes",
            Arc::new(|path: &str, mut body: Vec<u8>| {
                if path.ends_with("/files/model.bin") && !body.is_empty() {
                    body[1000] ^= 1;
                }
                body
            }),
        ),
        (
            "a longer file",
            Arc::new(|path: &str, mut body: Vec<u8>| {
                if path.ends_with("/files/tok/vocab.txt") {
                    body.extend_from_slice(b" d");
                }
                body
            }),
        ),
        ("another version's statement", {
            let (p, b) = (pinned_bundle_path.clone(), v2_bundle.clone());
            Arc::new(move |path: &str, body: Vec<u8>| if path == p { b.clone() } else { body })
        }),
        ("another key's signature", {
            let (p, b) = (pinned_bundle_path.clone(), others_bundle.clone());
            Arc::new(move |path: &str, body: Vec<u8>| if path == p { b.clone() } else { body })
        }),
    ];
    for (what, lie) in lies {
        let proxy = lying_proxy(app.base.clone(), lie).await;
        let r = run(pull(&v1.to_string(), "lied", "pinned.pub"), env(&proxy)).await;
        assert_eq!(r.code, 5, "{what}: {}", r.stderr);
        assert!(
            !cfg.join("lied").exists(),
            "{what}: something reached the destination"
        );
        let left: Vec<String> = tree(cfg)
            .into_iter()
            .filter(|p| p.contains("signet-pull"))
            .collect();
        assert!(left.is_empty(), "{what}: left behind {left:?}");
    }

    // An honest proxy changes nothing.
    let proxy = lying_proxy(app.base.clone(), Arc::new(|_: &str, body: Vec<u8>| body)).await;
    let r = run(pull(&v1.to_string(), "honest", "pinned.pub"), env(&proxy)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(cfg.join("honest/model.bin")).unwrap(),
        weights
    );
}

/// A proxy whose first answer for a path ending in `cut` breaks off after
/// `at` bytes, as a dropped connection does; it records the `Range` of each
/// request for that path.
async fn breaking_proxy(
    upstream: String,
    cut: &'static str,
    at: usize,
) -> (String, Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ranges.clone();
    let client = upstream_client();
    let handle = move |req: axum::extract::Request| {
        let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
        async move {
            let (parts, _) = req.into_parts();
            let first = parts.uri.path().ends_with(cut) && {
                let mut s = seen.lock().unwrap();
                s.push(
                    parts
                        .headers
                        .get("range")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                );
                s.len() == 1
            };
            let (status, headers, bytes) =
                forward(&client, &upstream, &parts, bytes::Bytes::new()).await;
            let body = if first {
                let broken = futures::stream::iter([
                    Ok::<_, std::io::Error>(bytes.slice(..at)),
                    Err(std::io::Error::other("connection dropped")),
                ]);
                axum::body::Body::from_stream(broken)
            } else {
                axum::body::Body::from(bytes)
            };
            answer(status, &headers, body)
        }
    };
    let url = serve_on_loopback(axum::Router::new().fallback(handle)).await;
    (url, ranges)
}

async fn an_interrupted_pull_resumes_where_it_stopped(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let weights = crate::helpers::bytes_of(3 << 20, 4);
    let (v, st) = app
        .sealed_version(
            &ns,
            &model,
            full_lineage(),
            &[("model.bin", &weights), ("cfg.json", b"{}")],
        )
        .await;
    let signer = signed_by_a_new_key(&app, &ns, &model, v, &st).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    std::fs::write(cfg.join("pinned.pub"), &signer.pem).unwrap();
    let (proxy, ranges) = breaking_proxy(app.base.clone(), "/files/model.bin", 1 << 20).await;
    let env = [
        ("SIGNET_URL", proxy.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let target = format!("{ns}/{model}@{v}");
    let args = [
        "pull",
        &target,
        "out",
        "--trust-key",
        "pinned.pub",
        "--jobs",
        "1",
    ];

    // The connection drops: the pull fails, the destination does not exist,
    // and what came is kept beside it.
    let r = signet(cfg, &args, "", &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!cfg.join("out").exists());
    let partial: Vec<String> = tree(cfg)
        .into_iter()
        .filter(|p| p.contains("signet-pull") && p.ends_with("model.bin"))
        .collect();
    assert_eq!(partial.len(), 1, "{:?}", tree(cfg));
    let kept = std::fs::metadata(cfg.join(&partial[0])).unwrap().len();
    assert!(kept > 0 && kept < weights.len() as u64, "kept {kept}");

    // Again: only the rest is asked for, and the result is byte-exact.
    let r = signet(cfg, &args, "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(cfg.join("out/model.bin")).unwrap(), weights);
    assert_eq!(
        ranges.lock().unwrap().clone(),
        [None, Some(format!("bytes={kept}-"))]
    );
    assert!(tree(cfg).iter().all(|p| !p.contains("signet-pull")));
    let r = signet(cfg, &["verify", "out", "--key", "pinned.pub"], "", &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

async fn a_pipeline_pushes_a_directory_signed_and_a_deployer_pulls_it_back(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let signer = Signer::generate();
    assert_eq!(signer.register(&app, "ci", &[&ns]).await.status(), 201);
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    std::fs::write(cfg.join("ci.key"), signer.private_pem()).unwrap();
    std::fs::write(cfg.join("ci.pub"), &signer.pem).unwrap();
    std::fs::write(cfg.join("lineage.json"), full_lineage().to_string()).unwrap();
    std::fs::write(cfg.join("meta.json"), r#"{"accuracy": 0.93}"#).unwrap();
    let src = cfg.join("model");
    std::fs::create_dir_all(src.join("tokenizer")).unwrap();
    let weights = crate::helpers::bytes_of(2_500_000, 11);
    std::fs::write(src.join("model.safetensors.bin"), &weights).unwrap();
    std::fs::write(src.join("tokenizer/vocab.txt"), b"a b c").unwrap();
    std::fs::write(src.join("config.json"), b"{}").unwrap();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let target = format!("{ns}/{model}");

    let r = signet(
        cfg,
        &[
            "--json",
            "push",
            "model",
            &target,
            "--lineage",
            "lineage.json",
            "--metadata",
            "meta.json",
            "--sign",
            "ci.key",
            "--jobs",
            "2",
        ],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pushed: Value = serde_json::from_str(&r.stdout).unwrap();
    let v = pushed["version"].as_i64().unwrap();
    assert_eq!(pushed["files"], 3);
    assert_eq!(pushed["signed_by"], signer.keyid);
    let got: Value = app.get_version(&ns, &model, v).await.json().await.unwrap();
    assert_eq!(got["state"], "sealed");
    assert_eq!(got["verified"], true);
    assert_eq!(got["metadata"]["accuracy"], 0.93);

    // What was pushed is what a deployer pulls.
    let r = signet(
        cfg,
        &[
            "pull",
            &format!("{target}@{v}"),
            "pulled",
            "--trust-key",
            "ci.pub",
        ],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut expected = tree(&src);
    expected.push("model.sig".into());
    expected.sort();
    assert_eq!(tree(&cfg.join("pulled")), expected);
    assert_eq!(
        std::fs::read(cfg.join("pulled/model.safetensors.bin")).unwrap(),
        weights
    );

    // A symbolic link is refused before anything is created.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/hostname", src.join("link")).unwrap();
        let r = signet(cfg, &["push", "model", &target], "", &env).await;
        assert_eq!(r.code, 2, "{}", r.stderr);
        std::fs::remove_file(src.join("link")).unwrap();
        let versions: Value = app
            .req(Method::GET, &format!("/v1/models/{ns}/{model}/versions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(versions["items"].as_array().unwrap().len(), 1, "{versions}");
    }

    // A registry that hands out a statement listing other bytes gets no
    // signature.
    let lie: Lie = Arc::new(|path: &str, body: Vec<u8>| {
        if path.ends_with("/statement") {
            let mut st: Value = serde_json::from_slice(&body).unwrap();
            st["predicate"]["resources"][0]["digest"] = serde_json::json!("00".repeat(32));
            serde_json::to_vec(&st).unwrap()
        } else {
            body
        }
    });
    let proxy = lying_proxy(app.base.clone(), lie).await;
    let lying = [
        ("SIGNET_URL", proxy.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = signet(
        cfg,
        &["--json", "push", "model", &target, "--sign", "ci.key"],
        "",
        &lying,
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let last = v + 1;
    let got: Value = app
        .get_version(&ns, &model, last)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["signatures"].as_array().unwrap().len(), 0, "{got}");
}

/// A proxy that answers `status` (with `Retry-After: 0`) to the first
/// `failures` requests whose path ends in `suffix`, and forwards the rest;
/// it counts those requests.
async fn flaky_proxy(
    upstream: String,
    suffix: &'static str,
    failures: usize,
    status: u16,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let client = upstream_client();
    let handle = move |req: axum::extract::Request| {
        let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
        async move {
            let (parts, body) = req.into_parts();
            if parts.uri.path().ends_with(suffix)
                && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures
            {
                return axum::http::Response::builder()
                    .status(status)
                    .header("retry-after", "0")
                    .body(axum::body::Body::from(
                        r#"{"error":{"code":"unavailable","message":"try again","request_id":""}}"#,
                    ))
                    .unwrap();
            }
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let (status, headers, bytes) = forward(&client, &upstream, &parts, body).await;
            answer(status, &headers, axum::body::Body::from(bytes))
        }
    };
    let url = serve_on_loopback(axum::Router::new().fallback(handle)).await;
    (url, count)
}

async fn transient_failures_are_retried_and_lasting_ones_are_not_hidden(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    let src = cfg.join("m");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("w.bin"), crate::helpers::bytes_of(100_000, 2)).unwrap();
    let target = format!("{ns}/{model}");

    // Throttled twice, unavailable twice: the push gets through, each file
    // upload sent again with its whole body.
    for (status, suffix) in [(429, "/files/w.bin"), (503, "/seal")] {
        let (proxy, count) = flaky_proxy(app.base.clone(), suffix, 2, status).await;
        let env = [
            ("SIGNET_URL", proxy.as_str()),
            ("SIGNET_TOKEN", app.admin.as_str()),
        ];
        let r = signet(cfg, &["push", "m", &target], "", &env).await;
        assert_eq!(r.code, 0, "{status}: {}", r.stderr);
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "{status}"
        );
    }
    // Unavailable for good: five attempts, then the failure, with exit code 1.
    let (proxy, count) = flaky_proxy(app.base.clone(), "/seal", usize::MAX, 503).await;
    let env = [
        ("SIGNET_URL", proxy.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = signet(cfg, &["push", "m", &target], "", &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 5);
    assert!(r.stderr.contains("5 attempts over"), "{}", r.stderr);
    // Nobody listening: said so, in plain words, with the attempts made.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = [
        ("SIGNET_URL", nowhere.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = signet(cfg, &["whoami"], "", &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("cannot reach {nowhere}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.to_lowercase().contains("connection refused"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("url ()"), "{}", r.stderr);
    // Not found is not transient: one attempt.
    let (proxy, count) = flaky_proxy(app.base.clone(), "/seal", 0, 503).await;
    let env = [
        ("SIGNET_URL", proxy.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = signet(
        cfg,
        &["promote", &format!("{ns}/absent@1"), "production"],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// A proxy that passes on only the first `at` bytes of the first `cuts`
/// appends of a resumable upload (the registry keeps what arrived whole, as
/// when a connection breaks) and answers the client 503; while `refuse_rest`
/// holds, every later append too gets 503 and reaches nothing. It records the
/// `Upload-Offset` of every append, and every other request's method and path.
async fn cutting_proxy(
    upstream: String,
    cuts: usize,
    at: usize,
    refuse_rest: Arc<std::sync::atomic::AtomicBool>,
) -> (
    String,
    Arc<std::sync::Mutex<Vec<u64>>>,
    Arc<std::sync::Mutex<Vec<String>>>,
) {
    let others = Arc::new(std::sync::Mutex::new(Vec::new()));
    let other = others.clone();
    let offsets = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = offsets.clone();
    let client = upstream_client();
    let handle = move |req: axum::extract::Request| {
        let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
        let (other, refuse_rest) = (other.clone(), refuse_rest.clone());
        async move {
            let (mut parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let unavailable = || {
                axum::response::IntoResponse::into_response((
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("content-type", "application/json")],
                    r#"{"error":{"code":"unavailable","message":"connection lost","request_id":""}}"#,
                ))
            };
            let patch = parts.method == axum::http::Method::PATCH;
            let appends = if patch {
                let mut s = seen.lock().unwrap();
                let offset = parts.headers["upload-offset"].to_str().unwrap();
                s.push(offset.parse().unwrap());
                s.len()
            } else {
                let request = format!("{} {}", parts.method, parts.uri.path());
                other.lock().unwrap().push(request);
                0
            };
            if patch && appends > cuts && refuse_rest.load(std::sync::atomic::Ordering::SeqCst) {
                return unavailable();
            }
            let cut = patch && appends <= cuts;
            if !cut {
                let (status, headers, bytes) = forward(&client, &upstream, &parts, body).await;
                return answer(status, &headers, axum::body::Body::from(bytes));
            }
            let kept = body.slice(..at.min(body.len()));
            parts.headers.insert("content-length", kept.len().into());
            let (status, _, _) = forward(&client, &upstream, &parts, kept).await;
            assert_eq!(status, 200, "the registry keeps what arrived");
            unavailable()
        }
    };
    let url = serve_on_loopback(axum::Router::new().fallback(handle)).await;
    (url, offsets, others)
}

async fn an_interrupted_push_resumes_from_the_committed_parts(b: Backend) {
    const PART: usize = 8 << 20;
    let app = TestApp::spawn(b).await;
    let (ns, model) = ("fraud", "scorer");
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    // The namespace and the model, made with the client too.
    let admin = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = signet(cfg, &["namespace", "create", ns], "", &admin).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = signet(
        cfg,
        &["--json", "model", "create", "fraud/scorer"],
        "",
        &admin,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).unwrap()["name"],
        model
    );
    let r = signet(cfg, &["model", "create", "fraud/scorer"], "", &admin).await;
    assert_eq!(
        r.code, 0,
        "a second one as asked is no failure: {}",
        r.stderr
    );
    assert!(r.stdout.contains("already exists"), "{}", r.stdout);
    let r = signet(
        cfg,
        &["model", "create", "fraud/scorer", "--description", "other"],
        "",
        &admin,
    )
    .await;
    assert_eq!(r.code, 1, "one unlike the existing conflicts: {}", r.stderr);
    let r = signet(cfg, &["model", "create", "no-slash"], "", &admin).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let src = cfg.join("model");
    std::fs::create_dir_all(&src).unwrap();
    let weights = crate::helpers::bytes_of(3 * PART + (1 << 20), 31);
    std::fs::write(src.join("weights.bin"), &weights).unwrap();
    std::fs::write(src.join("config.json"), b"{}").unwrap();
    // Each broken append gets one part and a bit through.
    let (proxy, offsets, _) =
        cutting_proxy(app.base.clone(), 2, PART + (1 << 20), Default::default()).await;
    let env = [
        ("SIGNET_URL", proxy.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];

    let target = format!("{ns}/{model}");
    let r = signet(cfg, &["--json", "push", "model", &target], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = serde_json::from_str::<Value>(&r.stdout).unwrap()["version"]
        .as_i64()
        .unwrap();
    // Each attempt went on from the parts committed before it.
    assert_eq!(
        offsets.lock().unwrap().clone(),
        [0, PART as u64, 2 * PART as u64],
        "{}",
        r.stderr
    );
    let got = app.get_file(ns, model, v, "weights.bin").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.bytes().await.unwrap() == weights, "byte-exact");
    let ver: Value = app.get_version(ns, model, v).await.json().await.unwrap();
    assert_eq!(ver["state"], "sealed");
    assert_eq!(ver["files"].as_array().unwrap().len(), 2);

    // A push that gives up (the registry unreachable after one part) and is
    // run again goes on with its draft and its upload.
    std::fs::write(src.join("config.json"), b"{\"run\": 2}").unwrap();
    let refuse = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (proxy, offsets, others) =
        cutting_proxy(app.base.clone(), 1, PART + (1 << 20), refuse.clone()).await;
    let env = [
        ("SIGNET_URL", proxy.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let r = signet(cfg, &["--json", "push", "model", &target], "", &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The registry answers again; the same push is run again.
    refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    let (appends_before, others_before) =
        (offsets.lock().unwrap().len(), others.lock().unwrap().len());
    let r = signet(cfg, &["--json", "push", "model", &target], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let again = serde_json::from_str::<Value>(&r.stdout).unwrap()["version"]
        .as_i64()
        .unwrap();
    assert_eq!(again, v + 1, "the interrupted run's draft, not a new one");
    assert_eq!(
        offsets.lock().unwrap()[appends_before..],
        [PART as u64],
        "{}",
        r.stderr
    );
    let others = others.lock().unwrap()[others_before..].to_vec();
    assert!(
        !others.iter().any(|o| o.ends_with("/files/config.json")),
        "a file already uploaded is not sent again: {others:?}"
    );
    assert!(
        !others
            .iter()
            .any(|o| o == &format!("POST /v1/models/{ns}/{model}/versions"))
    );
    let got = app.get_file(ns, model, again, "weights.bin").await;
    assert!(got.bytes().await.unwrap() == weights, "byte-exact");
    // Done: a third run is a new version.
    let r = signet(cfg, &["--json", "push", "model", &target], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let third = serde_json::from_str::<Value>(&r.stdout).unwrap()["version"].as_i64();
    assert_eq!(third, Some(v + 2));
}

async fn an_auditor_searches_exports_and_verifies_the_log_offline(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    app.sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"w")])
        .await;
    // A denied request by someone else.
    let stranger = app.mint("stranger").await;
    let r = app
        .anon(Method::GET, &format!("/v1/models/{ns}/{model}"))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];

    let r = signet(
        cfg,
        &["--json", "audit", "search", "--limit", "3"],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found: Value = serde_json::from_str(&r.stdout).unwrap();
    let seqs: Vec<i64> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    assert_eq!(found["more"], true);
    let r = signet(
        cfg,
        &[
            "--json",
            "audit",
            "search",
            "--outcome",
            "denied",
            "--principal",
            "stranger",
        ],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let denied: Value = serde_json::from_str(&r.stdout).unwrap();
    let items = denied["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["status"], 404);

    // The whole log, exported, verifies offline from the chain's start.
    let r = signet(cfg, &["audit", "export", "--out", "log.jsonl"], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(cfg.join("log.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 5);
    let offline: &[(&str, &str)] = &[];
    let r = signet(
        cfg,
        &["--json", "audit", "verify", "--file", "log.jsonl"],
        "",
        offline,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ok: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(ok["anchor"]["seq"], 0);
    assert_eq!(ok["checked"], lines.len());
    let head = ok["head"]["hash"].as_str().unwrap().to_owned();
    let r = signet(
        cfg,
        &["audit", "verify", "--file", "log.jsonl", "--head", &head],
        "",
        offline,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A file that is not the log it claims to be fails, and says where.
    let r = signet(
        cfg,
        &[
            "audit",
            "verify",
            "--file",
            "log.jsonl",
            "--head",
            &"0".repeat(64),
        ],
        "",
        offline,
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    let write = |name: &str, ls: &[String]| std::fs::write(cfg.join(name), ls.join("\n")).unwrap();
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut e: Value = serde_json::from_str(&edited[2]).unwrap();
    e["principal"] = "mallory".into();
    edited[2] = e.to_string();
    write("edited.jsonl", &edited);
    let mut dropped: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    dropped.remove(3);
    write("dropped.jsonl", &dropped);
    write("garbage.jsonl", &["{\"seq\": 1}".to_string()]);
    for (file, says) in [
        ("edited.jsonl", "does not match its content"),
        ("dropped.jsonl", "missing"),
        ("garbage.jsonl", "not an event"),
    ] {
        let r = signet(cfg, &["audit", "verify", "--file", file], "", offline).await;
        assert_eq!(r.code, 5, "{file}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{file}: {}", r.stderr);
    }
    // An export filtered to one principal is not a chain: the stranger's two
    // events have the others' between them.
    let r = app
        .anon(Method::GET, "/v1/whoami")
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = signet(
        cfg,
        &[
            "audit",
            "export",
            "--principal",
            "stranger",
            "--out",
            "mine.jsonl",
        ],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = signet(
        cfg,
        &["audit", "verify", "--file", "mine.jsonl"],
        "",
        offline,
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    // The registry's own check, and an export never overwrites a file.
    let r = signet(cfg, &["--json", "audit", "verify"], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).unwrap()["ok"],
        true
    );
    let r = signet(cfg, &["audit", "export", "--out", "log.jsonl"], "", &env).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Someone who may not read the log is told so.
    let r = signet(
        cfg,
        &["audit", "search"],
        "",
        &[
            ("SIGNET_URL", app.base.as_str()),
            ("SIGNET_TOKEN", stranger.as_str()),
        ],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
}

async fn lineage_queries_answer_from_the_client(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (base, _) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"w")])
        .await;
    let mut tuned = full_lineage();
    tuned["parents"] = serde_json::json!([{ "model": format!("{ns}/{model}"), "version": base }]);
    let (child, _) = app
        .sealed_version(&ns, &model, tuned, &[("m.bin", b"w2")])
        .await;
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let versions = |v: &Value, key: &str| -> Vec<i64> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_i64().unwrap())
            .collect()
    };

    let dataset = "cd".repeat(32);
    let r = signet(cfg, &["--json", "lineage", "dataset", &dataset], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Value = serde_json::from_str(&r.stdout).unwrap();
    let mut hits = versions(&got, "items");
    hits.sort();
    assert_eq!(hits, [base, child]);
    let r = signet(
        cfg,
        &["--json", "lineage", "commit", &"ab".repeat(20)],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(got["items"].as_array().unwrap().len(), 2);
    let target = format!("{ns}/{model}@{base}");
    let r = signet(cfg, &["--json", "lineage", "version", &target], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(versions(&got, "descendants"), [child]);
    assert!(versions(&got, "ancestors").is_empty());
    let r = signet(
        cfg,
        &["lineage", "version", &format!("{ns}/{model}@{child}")],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("{ns}/{model}@{base}")),
        "{}",
        r.stdout
    );

    let r = signet(cfg, &["lineage", "dataset", "not-a-digest"], "", &env).await;
    assert_ne!(r.code, 0);
    let r = signet(
        cfg,
        &["lineage", "version", &format!("{ns}/{model}@99")],
        "",
        &env,
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
}

async fn pull_and_verify_trust_the_keys_of_the_trust_directory(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, st) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"weights")])
        .await;
    let signer = signed_by_a_new_key(&app, &ns, &model, v, &st).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    let env = [
        ("SIGNET_URL", app.base.as_str()),
        ("SIGNET_TOKEN", app.admin.as_str()),
    ];
    let target = format!("{ns}/{model}@{v}");

    // No key named and none in the trust directory: nothing is trusted.
    let r = signet(cfg, &["pull", &target, "out"], "", &env).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("trust"), "{}", r.stderr);
    assert!(!cfg.join("out").exists());

    // Another key in the directory: still not this signer's.
    std::fs::create_dir_all(cfg.join("trust")).unwrap();
    std::fs::write(cfg.join("trust/other.pub"), Signer::generate().pem).unwrap();
    let r = signet(cfg, &["pull", &target, "out"], "", &env).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(!cfg.join("out").exists());

    // The signer's key pinned there: pull and offline verify need no flag.
    std::fs::write(cfg.join("trust/ci.pub"), &signer.pem).unwrap();
    let r = signet(cfg, &["pull", &target, "out"], "", &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(cfg.join("out/m.bin")).unwrap(), b"weights");
    let r = signet(cfg, &["verify", "out"], "", &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A key named on the command line pins exactly that key.
    std::fs::write(cfg.join("stranger.pub"), Signer::generate().pem).unwrap();
    let r = signet(cfg, &["verify", "out", "--key", "stranger.pub"], "", &[]).await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    // SIGNET_TRUST_DIR moves the directory.
    std::fs::create_dir_all(cfg.join("elsewhere")).unwrap();
    let moved = cfg.join("elsewhere");
    let r = signet(
        cfg,
        &["verify", "out"],
        "",
        &[("SIGNET_TRUST_DIR", moved.to_str().unwrap())],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
}

//! Real registry clients against the OCI face: Debian's `skopeo`, the `oras`
//! Python SDK, OpenSSF Model Signing over what ORAS pulled, and the ModelPack
//! specification's own JSON schema over the configs served.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, sha256_hex};
use crate::oci::{Fixture, fixture, header};

crate::on_both_backends!(
    skopeo_copies_by_tag_and_by_digest_byte_identical_and_is_refused_what_the_gate_refuses,
    oras_pulls_by_tag_and_digest_and_the_referrer_bundle_verifies_with_model_signing,
    modelpack_configs_validate_against_the_specification_schema,
);

/// A tool the test script installs; `None` only when the run opted out of
/// external servers and tools (`SIGNET_TEST_BACKENDS=sqlite`).
fn tool(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) => Some(path),
        Err(_) if crate::helpers::postgres_opted_out() => None,
        Err(_) => crate::helpers::not_configured(var),
    }
}

fn host(f: &Fixture) -> String {
    f.app.base.trim_start_matches("http://").to_owned()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `skopeo copy docker://…/fraud/scorer<reference> oci:DIR` as the deployer.
fn skopeo_copy(skopeo: &str, f: &Fixture, reference: &str, dir: &Path) -> (bool, String) {
    let auth = dir.with_extension("auth.json");
    run(Command::new(skopeo)
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["copy", "--src-tls-verify=false", "--src-creds"])
        .arg(format!("deploy:{}", f.deployer))
        .arg(format!("docker://{}/fraud/scorer{reference}", host(f)))
        .arg(format!("oci:{}", dir.display())))
}

/// The layers of the one image in an OCI layout, as (title, bytes).
fn layout_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let read = |d: &str| {
        let hex = d.strip_prefix("sha256:").unwrap();
        let bytes = std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            hex,
            "a blob of the layout is its digest"
        );
        bytes
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let title = l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .unwrap();
            (title.to_owned(), read(l["digest"].as_str().unwrap()))
        })
        .collect();
    out.sort();
    out
}

fn expected(f: &Fixture) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = f
        .files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), b.clone()))
        .collect();
    out.sort();
    out
}

async fn skopeo_copies_by_tag_and_by_digest_byte_identical_and_is_refused_what_the_gate_refuses(
    b: Backend,
) {
    let Some(skopeo) = tool("SIGNET_TEST_SKOPEO") else {
        return;
    };
    let f = fixture(b).await;
    let work = tempfile::tempdir().unwrap();
    let by_tag = work.path().join("by-tag");
    let (ok, out) = skopeo_copy(&skopeo, &f, ":production", &by_tag);
    assert!(ok, "{out}");
    assert_eq!(layout_files(&by_tag), expected(&f));

    let digest = f.digest_of("production", &f.deployer).await;
    let by_digest = work.path().join("by-digest");
    let (ok, out) = skopeo_copy(&skopeo, &f, &format!("@{digest}"), &by_digest);
    assert!(ok, "{out}");
    assert_eq!(layout_files(&by_digest), expected(&f));

    // Version 2 is unsigned: the deployer's copy fails, and says why.
    let refused = work.path().join("refused");
    let (ok, out) = skopeo_copy(&skopeo, &f, ":v2", &refused);
    assert!(!ok, "{out}");
    assert!(out.contains("denied") || out.contains("unsigned"), "{out}");
    assert!(!refused.join("index.json").exists());
}

/// The Python of the virtual environment holding `oras` and `jsonschema`.
fn python() -> Option<String> {
    tool("SIGNET_TEST_OCI_PYTHON")
}

/// Runs a Python script with the deployer's credentials in its environment.
fn python_script(py: &str, f: &Fixture, script: &str, args: &[&str]) -> (bool, String) {
    run(Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("REGISTRY", host(f))
        .env("TOKEN", &f.deployer))
}

/// Pulls with the ORAS SDK: `fraud/scorer:production` into argv[1], the same
/// by digest into argv[2], and the referrer bundle of `argv[4]`'s key into
/// argv[3].
const ORAS_PULL: &str = r#"
import json, os, sys
import oras.client
reg, token = os.environ["REGISTRY"], os.environ["TOKEN"]
c = oras.client.OrasClient(hostname=reg, insecure=True)
c.auth.set_basic_auth("deploy", token)
repo = f"{reg}/fraud/scorer"
c.pull(target=f"{repo}:production", outdir=sys.argv[1])
r = c.do_request(f"http://{reg}/v2/fraud/scorer/manifests/production", "HEAD",
                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
digest = r.headers["Docker-Content-Digest"]
c.pull(target=f"{repo}@{digest}", outdir=sys.argv[2])
index = c.do_request(f"http://{reg}/v2/fraud/scorer/referrers/{digest}").json()
mine = [m for m in index["manifests"] if m["annotations"]["dev.signet.keyid"] == sys.argv[4]]
assert len(mine) == 1, index
manifest = c.get_manifest(f"{repo}@{mine[0]['digest']}")
assert manifest["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
assert manifest["subject"]["digest"] == digest
c.download_blob(c.get_container(repo), manifest["layers"][0]["digest"], sys.argv[3])
"#;

/// Every file under `dir`, as (path relative to it, bytes).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

async fn oras_pulls_by_tag_and_digest_and_the_referrer_bundle_verifies_with_model_signing(
    b: Backend,
) {
    let (Some(py), Some(ms)) = (python(), crate::interop::model_signing()) else {
        return;
    };
    let f = fixture(b).await;
    // A P-256 key (what OpenSSF Model Signing verifies) signs version 1 too.
    let p256 = Signer::generate_p256();
    assert_eq!(
        p256.register(&f.app, "ci-p256", &["fraud"]).await.status(),
        StatusCode::CREATED
    );
    let st: Value = f
        .app
        .req(
            reqwest::Method::GET,
            "/v1/models/fraud/scorer/versions/1/statement",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = f.app.sign("fraud", "scorer", 1, &p256.envelope(&st)).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let work = tempfile::tempdir().unwrap();
    let (tag_dir, digest_dir) = (work.path().join("scorer"), work.path().join("by-digest"));
    let bundle = work.path().join("model.sig");
    let args = [
        tag_dir.to_str().unwrap(),
        digest_dir.to_str().unwrap(),
        bundle.to_str().unwrap(),
        p256.keyid.as_str(),
    ];
    let (ok, out) = python_script(&py, &f, ORAS_PULL, &args);
    assert!(ok, "{out}");
    assert_eq!(tree(&tag_dir), expected(&f));
    assert_eq!(tree(&digest_dir), expected(&f));

    // The referrer's bundle verifies the pulled directory with model_signing;
    // a file changed after the pull fails it.
    let public = work.path().join("ci.pub");
    std::fs::write(&public, &p256.pem).unwrap();
    let (ok, out) = crate::interop::verify_with_model_signing(&ms, &bundle, &public, &tag_dir);
    assert!(ok, "{out}");
    std::fs::write(tag_dir.join("README.md"), b"changed").unwrap();
    let (ok, _) = crate::interop::verify_with_model_signing(&ms, &bundle, &public, &tag_dir);
    assert!(!ok, "a changed file must fail verification");
}

/// Validates argv[2] (a config) against the schema in argv[1]; the format
/// checker holds `date-time` to RFC 3339.
const VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(json.loads(sys.argv[2])))
for e in errors:
    print(e.message)
sys.exit(1 if errors else 0)
"#;

async fn modelpack_configs_validate_against_the_specification_schema(b: Backend) {
    let Some(py) = python() else {
        return;
    };
    let f = fixture(b).await;
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/modelpack/config-schema.json");
    let schema = schema.to_str().unwrap();
    // Version 1 (a full lineage) and version 2 (none) as the admin sees them.
    for tag in ["v1", "v2"] {
        let r = f
            .admin_get(&format!("/v2/fraud/scorer/manifests/{tag}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let m: Value = r.json().await.unwrap();
        let r = f
            .admin_get(&format!(
                "/v2/fraud/scorer/blobs/{}",
                m["config"]["digest"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            header(&r, "content-type"),
            "application/vnd.cncf.model.config.v1+json"
        );
        let config = r.text().await.unwrap();
        let (ok, out) = python_script(&py, &f, VALIDATE, &[schema, &config]);
        assert!(ok, "{tag}: {out}\n{config}");
    }
    // The check can fail: the schema closes its objects.
    let bad = json!({"descriptor": {"name": "x", "signet": 1}, "config": {},
        "modelfs": {"type": "layers", "diffIds": ["sha256:00"]}});
    let (ok, out) = python_script(&py, &f, VALIDATE, &[schema, &bad.to_string()]);
    assert!(!ok && out.contains("signet"), "{out}");
}

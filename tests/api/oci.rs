//! The OCI face (`/v2`): the pull side of the OCI distribution-spec as its
//! conformance suite checks it, ModelPack manifests, the deployer rules of
//! `/v1` downloads, registry tokens, and what each refusal looks like.

use base64::Engine;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, full_lineage, safetensors_bytes, sha256_hex};

crate::on_both_backends!(
    the_pull_workflow_of_the_conformance_suite_holds,
    manifests_are_modelpack_v1_with_one_layer_per_file_and_stable_digests,
    deployers_see_and_pull_only_what_the_v1_deployer_rules_allow,
    hidden_repositories_answer_exactly_as_absent_ones,
    registry_tokens_are_scoped_short_lived_and_stand_on_their_api_token,
    the_oci_face_is_read_only,
    oci_requests_are_audited_rate_limited_and_charged_to_the_quota,
    tampered_layer_bytes_never_reach_an_oci_client,
    malformed_names_digests_tags_and_ranges_get_clear_errors,
    redirects_hand_out_presigned_urls_of_exactly_that_object,
);

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A registry with `fraud/scorer`: version 1 signed and promoted to
/// `production`, version 2 sealed but unsigned; a deployer of `fraud`.
pub struct Fixture {
    pub app: TestApp,
    pub signer: Signer,
    pub deployer: String,
    pub files: Vec<(&'static str, Vec<u8>)>,
}

pub async fn fixture(b: Backend) -> Fixture {
    fixture_with(b, |_| {}).await
}

pub async fn fixture_with(
    b: Backend,
    tweak: impl FnOnce(&mut signet::config::ServeConfig),
) -> Fixture {
    let app = TestApp::spawn_with(b, tweak).await;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("model.safetensors", safetensors_bytes()),
        ("config/tokenizer.json", b"{\"vocab\": 3}".to_vec()),
        ("README.md", b"# scorer\n".to_vec()),
        ("train.py", b"print('train')\n".to_vec()),
        ("data/eval.csv", b"a,b\n1,2\n".to_vec()),
        ("weights.bin", crate::helpers::bytes_of(3000, 7)),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    app.given_model().await;
    let (v1, signer) = app.released("fraud", "scorer", "ci-fraud", &refs).await;
    assert_eq!(v1, 1);
    let (v2, _) = app
        .sealed_version("fraud", "scorer", json!({}), &[("other.bin", b"unsigned")])
        .await;
    assert_eq!(v2, 2);
    let deployer = app.member_token("deploy-bot", "fraud", "deployer").await;
    Fixture {
        app,
        signer,
        deployer,
        files,
    }
}

/// Basic credentials as registry clients send them: any user, the token as password.
pub fn basic(token: &str) -> String {
    let pair = format!("deploy:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

impl Fixture {
    /// A request to the OCI face as `token` (Basic), or with none.
    pub fn oci(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.app.anon(method, path);
        match token {
            Some(t) => r.header("Authorization", basic(t)),
            None => r,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.oci(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Response {
        self.get(path, &self.app.admin.clone()).await
    }

    /// The digest of a manifest by tag.
    pub async fn digest_of(&self, tag: &str, token: &str) -> String {
        let r = self
            .get(&format!("/v2/fraud/scorer/manifests/{tag}"), token)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{tag}");
        header(&r, "docker-content-digest")
    }
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The one error of an OCI error envelope.
pub async fn oci_error(r: Response) -> Value {
    let body: Value = r.json().await.unwrap();
    let errors = body["errors"].as_array().expect("an OCI error envelope");
    assert_eq!(errors.len(), 1, "{body}");
    errors[0].clone()
}

async fn tags_of(f: &Fixture, token: &str) -> Vec<String> {
    let r = f.get("/v2/fraud/scorer/tags/list", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["name"], "fraud/scorer");
    body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// The distribution-spec conformance suite's pull workflow (`conformance/`,
/// read-only data: `OCI_API_PUSH=false` with preloaded tags, manifests, blobs
/// and referrers), checked request by request as it checks them.
async fn the_pull_workflow_of_the_conformance_suite_holds(b: Backend) {
    let f = fixture(b).await;
    // Ping: the API is there; without credentials, a bearer challenge.
    let r = f.oci(Method::GET, "/v2/", None).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&r, "www-authenticate");
    assert!(
        challenge.starts_with(&format!("Bearer realm=\"{}/v2/token\"", f.app.base))
            && challenge.contains("service=\"signet\""),
        "{challenge}"
    );
    let r = f.admin_get("/v2/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );

    // Tags list.
    assert_eq!(tags_of(&f, &f.app.admin).await, ["production", "v1", "v2"]);

    // Manifests by tag and by digest: HEAD matches GET; the body hashes to the
    // digest header; the content type is the manifest's media type.
    let r = f.admin_get("/v2/fraud/scorer/manifests/production").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), MANIFEST);
    let dig = header(&r, "docker-content-digest");
    let body = r.bytes().await.unwrap();
    assert_eq!(digest(&body), dig);
    for reference in ["production", "v1", dig.as_str()] {
        let path = format!("/v2/fraud/scorer/manifests/{reference}");
        let head = f
            .oci(Method::HEAD, &path, Some(&f.app.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{reference}");
        assert_eq!(header(&head, "docker-content-digest"), dig);
        assert_eq!(header(&head, "content-length"), body.len().to_string());
        assert_eq!(header(&head, "content-type"), MANIFEST);
        assert!(head.bytes().await.unwrap().is_empty());
        let get = f.admin_get(&path).await;
        assert_eq!(get.bytes().await.unwrap(), body, "{reference}");
    }

    // Blobs: every layer and the config, HEAD then GET.
    let manifest: Value = serde_json::from_slice(&body).unwrap();
    let mut descriptors = manifest["layers"].as_array().unwrap().clone();
    descriptors.push(manifest["config"].clone());
    for d in &descriptors {
        let path = format!("/v2/fraud/scorer/blobs/{}", d["digest"].as_str().unwrap());
        let head = f
            .oci(Method::HEAD, &path, Some(&f.app.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(header(&head, "content-length"), d["size"].to_string());
        assert_eq!(header(&head, "docker-content-digest"), d["digest"]);
        let got = f.admin_get(&path).await.bytes().await.unwrap();
        assert_eq!(digest(&got), d["digest"]);
        assert_eq!(got.len() as u64, d["size"].as_u64().unwrap());
    }

    // Range requests on a 3000-byte layer, as the suite words them.
    let blob = f.files.iter().find(|(p, _)| *p == "weights.bin").unwrap();
    let (bytes, path) = (
        &blob.1,
        format!("/v2/fraud/scorer/blobs/{}", digest(&blob.1)),
    );
    let n = bytes.len();
    for (spec, want) in [
        ("bytes=500-1499", Some((500, 1500))),
        ("bytes=500-", Some((500, n))),
        ("bytes=-500", Some((n - 500, n))),
        ("bytes=2000-5000", Some((2000, n))),
        ("bytes=500-0", None),
        ("bytes=5000-10000", None),
    ] {
        let r = f
            .oci(Method::GET, &path, Some(&f.app.admin))
            .header("Range", spec)
            .send()
            .await
            .unwrap();
        match want {
            Some((a, e)) => {
                assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{spec}");
                assert_eq!(header(&r, "content-length"), (e - a).to_string());
                assert_eq!(
                    header(&r, "content-range"),
                    format!("bytes {a}-{}/{n}", e - 1)
                );
                assert_eq!(r.bytes().await.unwrap(), &bytes[a..e], "{spec}");
            }
            None => assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{spec}"),
        }
    }

    // Referrers: the signature, filtered by artifact type, and none for a
    // subject that is not here (never a 404).
    let r = f
        .admin_get(&format!("/v2/fraud/scorer/referrers/{dig}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), INDEX);
    let index: Value = r.json().await.unwrap();
    assert_eq!(index["mediaType"], INDEX);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["artifactType"], BUNDLE);
    let filtered = |t: &str| {
        format!(
            "/v2/fraud/scorer/referrers/{dig}?artifactType={}",
            urlencoding(t)
        )
    };
    let r = f.admin_get(&filtered(BUNDLE)).await;
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    assert_eq!(
        r.json::<Value>().await.unwrap()["manifests"],
        index["manifests"]
    );
    let r = f.admin_get(&filtered("application/spdx+json")).await;
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
    let unknown = digest(b"nothing here");
    let r = f
        .admin_get(&format!("/v2/fraud/scorer/referrers/{unknown}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));

    // Missing manifests (by digest, by tag) and blobs.
    let r = f
        .admin_get(&format!("/v2/fraud/scorer/manifests/{unknown}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(oci_error(r).await["code"], "MANIFEST_UNKNOWN");
    let r = f.admin_get("/v2/fraud/scorer/manifests/missing-tag").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(oci_error(r).await["code"], "MANIFEST_UNKNOWN");
    let r = f
        .admin_get(&format!("/v2/fraud/scorer/blobs/{unknown}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(oci_error(r).await["code"], "BLOB_UNKNOWN");

    // Tag pagination: `n` and `last`, with a Link to the next page.
    let r = f.admin_get("/v2/fraud/scorer/tags/list?n=2").await;
    let link = header(&r, "link");
    assert_eq!(
        link,
        "</v2/fraud/scorer/tags/list?n=2&last=v1>; rel=\"next\""
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["tags"],
        json!(["production", "v1"])
    );
    let r = f.admin_get("/v2/fraud/scorer/tags/list?n=2&last=v1").await;
    assert!(r.headers().get("link").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["v2"]));
}

/// An access log event's detail (kept as JSON text).
fn detail_of(event: &Value) -> Value {
    serde_json::from_str(event["detail"].as_str().unwrap()).unwrap()
}

/// Percent-encodes a query value.
pub fn urlencoding(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned()
}

async fn manifests_are_modelpack_v1_with_one_layer_per_file_and_stable_digests(b: Backend) {
    let f = fixture(b).await;
    let r = f.admin_get("/v2/fraud/scorer/manifests/v1").await;
    let dig = header(&r, "docker-content-digest");
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], MANIFEST);
    assert_eq!(
        m["artifactType"],
        "application/vnd.cncf.model.manifest.v1+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.cncf.model.config.v1+json"
    );
    // One layer per file, unpacked: its digest is the file's SHA-256, its title
    // and ModelPack file path are the file's path, its kind by the rule.
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), f.files.len());
    let kind = |p: &str| match p {
        "model.safetensors" => "weight",
        "config/tokenizer.json" => "weight.config",
        "README.md" => "doc",
        "train.py" => "code",
        "data/eval.csv" => "dataset",
        "weights.bin" => "weight",
        other => panic!("{other}"),
    };
    for (path, bytes) in &f.files {
        let l = layers
            .iter()
            .find(|l| l["annotations"]["org.cncf.model.filepath"] == *path)
            .unwrap_or_else(|| panic!("no layer for {path}"));
        assert_eq!(l["annotations"]["org.opencontainers.image.title"], *path);
        assert_eq!(l["digest"], digest(bytes));
        assert_eq!(l["size"], bytes.len());
        let media = format!("application/vnd.cncf.model.{}.v1.raw", kind(path));
        assert_eq!(l["mediaType"], media, "{path}");
        // Only the fallback is marked untested.
        let untested = &l["annotations"]["org.cncf.model.file.mediatype.untested"];
        assert_eq!(
            untested.as_str() == Some("true"),
            *path == "weights.bin",
            "{path}"
        );
    }
    // Version-level annotations: the version, its root digest, the lineage's
    // source and revision.
    let version: Value = f
        .app
        .get_version("fraud", "scorer", 1)
        .await
        .json()
        .await
        .unwrap();
    let a = &m["annotations"];
    assert_eq!(a["dev.signet.version"], "1");
    assert_eq!(a["dev.signet.model"], "fraud/scorer");
    assert_eq!(
        a["dev.signet.root-digest"],
        format!("sha256:{}", version["root_digest"].as_str().unwrap())
    );
    let lineage = full_lineage();
    assert_eq!(
        a["org.opencontainers.image.source"],
        lineage["code"]["repo"]
    );
    assert_eq!(
        a["org.opencontainers.image.revision"],
        lineage["code"]["commit"]
    );
    // The config: descriptor from the lineage, the layers' digests in order.
    let config_path = format!(
        "/v2/fraud/scorer/blobs/{}",
        m["config"]["digest"].as_str().unwrap()
    );
    let config: Value = f.admin_get(&config_path).await.json().await.unwrap();
    assert_eq!(config["descriptor"]["name"], "fraud/scorer");
    assert_eq!(config["descriptor"]["version"], "1");
    assert_eq!(config["descriptor"]["sourceURL"], lineage["code"]["repo"]);
    assert_eq!(config["descriptor"]["revision"], lineage["code"]["commit"]);
    assert_eq!(config["modelfs"]["type"], "layers");
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(
        config["modelfs"]["diffIds"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        diff_ids
    );

    // Stable: the same bytes at every request, on another replica, and after a
    // restart; the same for a deployer as for the admin.
    let again = f.digest_of("v1", &f.app.admin).await;
    assert_eq!(again, dig);
    assert_eq!(f.digest_of("v1", &f.deployer).await, dig);
    let replica = f.app.replica().await;
    let r = replica
        .anon(Method::GET, "/v2/fraud/scorer/manifests/production")
        .header("Authorization", basic(&f.app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "docker-content-digest"), dig);
}

async fn deployers_see_and_pull_only_what_the_v1_deployer_rules_allow(b: Backend) {
    let f = fixture(b).await;
    let app = &f.app;
    // Version 2 is unsigned: the admin (who may download anything) sees its
    // tag; the deployer does not, and is refused it by tag with the reasons.
    assert_eq!(tags_of(&f, &f.deployer).await, ["production", "v1"]);
    let r = f.get("/v2/fraud/scorer/manifests/v2", &f.deployer).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e = oci_error(r).await;
    assert_eq!(e["code"], "DENIED");
    assert_eq!(e["detail"]["reasons"], json!(["unsigned"]));
    assert_eq!(e["detail"]["details"][0]["reason"], "unsigned");
    // Its manifest and its file by digest are unknown to the deployer.
    let d2 = f.digest_of("v2", &app.admin).await;
    let r = f
        .get(&format!("/v2/fraud/scorer/manifests/{d2}"), &f.deployer)
        .await;
    assert_eq!(oci_error(r).await["code"], "MANIFEST_UNKNOWN");
    let unsigned_file = digest(b"unsigned");
    let r = f
        .get(
            &format!("/v2/fraud/scorer/blobs/{unsigned_file}"),
            &f.deployer,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(oci_error(r).await["code"], "BLOB_UNKNOWN");
    // ... though the admin gets it.
    let r = f
        .get(
            &format!("/v2/fraud/scorer/blobs/{unsigned_file}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.bytes().await.unwrap(), &b"unsigned"[..]);

    // An alias pointing at a version the caller may not pull is not listed; an
    // alias spelled like a version tag is never offered.
    let r = app
        .req(Method::PUT, "/v1/namespaces/fraud/policy")
        .json(&json!({"min_signatures": 1, "lineage_required": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (v3, st3) = app
        .sealed_version(
            "fraud",
            "scorer",
            json!({}),
            &[("m.safetensors", &safetensors_bytes())],
        )
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v3, &f.signer.envelope(&st3))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.promote("fraud", "scorer", "v2", v3).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.promote("fraud", "scorer", "canary", v3).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        tags_of(&f, &f.deployer).await,
        ["canary", "production", "v1", "v3"]
    );
    // `v2` names version 2 (refused to the deployer), not the alias.
    let r = f.get("/v2/fraud/scorer/manifests/v2", &f.deployer).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Quarantined: gone from the tags, refused by tag with the quarantine.
    let r = app
        .req(Method::POST, "/v1/quarantines")
        .json(&json!({"kind": "version", "value": "fraud/scorer@3", "reason": "bad eval"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    assert_eq!(tags_of(&f, &f.deployer).await, ["production", "v1"]);
    let r = f
        .get("/v2/fraud/scorer/manifests/canary", &f.deployer)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e = oci_error(r).await;
    assert!(
        e["detail"]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("quarantined")),
        "{e}"
    );

    // A pickle in a signed version: refused, naming the file.
    const PICKLE: &[u8] =
        b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.";
    let (v4, st4) = app
        .sealed_version("fraud", "scorer", json!({}), &[("model.pkl", PICKLE)])
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v4, &f.signer.envelope(&st4))
            .await
            .status(),
        StatusCode::CREATED
    );
    let r = f
        .get(&format!("/v2/fraud/scorer/manifests/v{v4}"), &f.deployer)
        .await;
    let e = oci_error(r).await;
    assert_eq!(e["detail"]["reasons"], json!(["unsafe_format"]));
    assert_eq!(e["detail"]["details"][0]["files"][0]["path"], "model.pkl");
    let r = f
        .get(
            &format!("/v2/fraud/scorer/blobs/{}", digest(PICKLE)),
            &f.deployer,
        )
        .await;
    assert_eq!(oci_error(r).await["code"], "BLOB_UNKNOWN");

    // The namespace's pull policy holds here too: under `aliased`, only
    // versions an alias points at.
    let r = app
        .req(Method::PUT, "/v1/namespaces/fraud/policy")
        .json(&json!({"deployer_pulls": "aliased", "aliased_grace_minutes": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (v5, st5) = app
        .sealed_version(
            "fraud",
            "scorer",
            full_lineage(),
            &[("n.safetensors", &safetensors_bytes())],
        )
        .await;
    assert_eq!(
        app.sign("fraud", "scorer", v5, &f.signer.envelope(&st5))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(tags_of(&f, &f.deployer).await, ["production", "v1"]);
    let r = f
        .get(&format!("/v2/fraud/scorer/manifests/v{v5}"), &f.deployer)
        .await;
    assert_eq!(
        oci_error(r).await["detail"]["reasons"],
        json!(["not_aliased"])
    );

    // Signatures of a compromised key are not offered as referrers.
    let d1 = f.digest_of("v1", &f.deployer).await;
    let path = format!("/v2/fraud/scorer/referrers/{d1}");
    let admin = app.admin.clone();
    assert_eq!(referrer_count(&f, &path, &admin).await, 1);
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", f.signer.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    assert_eq!(referrer_count(&f, &path, &admin).await, 0);
    // And version 1 is no longer pullable by the deployer.
    let r = f
        .get("/v2/fraud/scorer/manifests/production", &f.deployer)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn referrer_count(f: &Fixture, path: &str, token: &str) -> usize {
    let r = f.get(path, token).await;
    r.json::<Value>().await.unwrap()["manifests"]
        .as_array()
        .unwrap()
        .len()
}

async fn hidden_repositories_answer_exactly_as_absent_ones(b: Backend) {
    let f = fixture(b).await;
    let app = &f.app;
    assert_eq!(
        app.create_namespace("search").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("search", "ranker").await.status(),
        StatusCode::CREATED
    );
    let (v, _) = app
        .sealed_version("search", "ranker", json!({}), &[("r.bin", b"ranker")])
        .await;
    assert_eq!(v, 1);
    let d = digest(b"ranker");
    // The deployer of fraud: search/ranker is hidden, search/absent absent.
    for suffix in [
        "tags/list".to_owned(),
        "manifests/v1".to_owned(),
        format!("manifests/{d}"),
        format!("blobs/{d}"),
        format!("referrers/{d}"),
        format!("blobs/sha512:{}", "ab".repeat(64)),
        format!("manifests/sha512:{}", "ab".repeat(64)),
    ] {
        let hidden = f
            .get(&format!("/v2/search/ranker/{suffix}"), &f.deployer)
            .await;
        let absent = f
            .get(&format!("/v2/search/absent/{suffix}"), &f.deployer)
            .await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{suffix}");
        assert_eq!(absent.status(), StatusCode::NOT_FOUND, "{suffix}");
        let (h, a) = (oci_error(hidden).await, oci_error(absent).await);
        assert_eq!(h["code"], "NAME_UNKNOWN", "{suffix}");
        assert_eq!(
            h["message"].as_str().unwrap().replace("search/ranker", "X"),
            a["message"].as_str().unwrap().replace("search/absent", "X"),
            "{suffix}"
        );
    }
    // The catalog lists only what the caller may see.
    let r = f.get("/v2/_catalog", &f.deployer).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["repositories"],
        json!(["fraud/scorer"])
    );
    let r = f.admin_get("/v2/_catalog").await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["repositories"],
        json!(["fraud/scorer", "search/ranker"])
    );
    // The token endpoint answers both alike: a token, whose use then finds
    // nothing in either.
    for repo in ["search/ranker", "search/absent"] {
        let r = f
            .get(
                &format!("/v2/token?service=signet&scope=repository:{repo}:pull"),
                &f.deployer,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{repo}");
        let body: Value = r.json().await.unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["access_token", "expires_in", "issued_at", "token"]);
        let token = body["token"].as_str().unwrap();
        let r = app
            .anon(Method::GET, &format!("/v2/{repo}/tags/list"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(oci_error(r).await["code"], "NAME_UNKNOWN", "{repo}");
    }
    // A reader of fraud may see the repository but not pull from it: denied.
    let reader = app.member_token("viewer", "fraud", "reader").await;
    let r = f.get("/v2/fraud/scorer/tags/list", &reader).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(oci_error(r).await["code"], "DENIED");
}

/// A registry token for `scope`, asked with `token` as Basic credentials.
pub async fn registry_token(f: &Fixture, token: &str, scope: &str) -> String {
    let r = f
        .get(
            &format!("/v2/token?service=signet&scope={}", urlencoding(scope)),
            token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_in"].as_u64().unwrap() <= 300);
    body["token"].as_str().unwrap().to_owned()
}

async fn registry_tokens_are_scoped_short_lived_and_stand_on_their_api_token(b: Backend) {
    let f = fixture(b).await;
    let app = &f.app;
    let bearer = |path: &str, token: &str| {
        app.anon(Method::GET, path)
            .bearer_auth(token.to_owned())
            .send()
    };
    // The challenge of a repository endpoint names its scope.
    let r = f
        .oci(Method::GET, "/v2/fraud/scorer/tags/list", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").ends_with(",scope=\"repository:fraud/scorer:pull\""));
    assert_eq!(oci_error(r).await["code"], "UNAUTHORIZED");

    // An API token is accepted directly, as a bearer as well as in Basic.
    let r = bearer("/v2/fraud/scorer/tags/list", &f.deployer)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let token = registry_token(&f, &f.deployer, "repository:fraud/scorer:pull,push").await;
    assert!(token.starts_with("sgr_"));
    // Its minting is in the access log, naming the registry token (never its secret).
    let events = crate::audit::events(app, "principal=deploy-bot&action=GET /v2/token").await;
    let minted = events.first().unwrap_or_else(|| panic!("no token event"));
    assert!(detail_of(minted)["registry_token"].is_string(), "{minted}");
    assert!(!minted.to_string().contains(&token));
    let r = bearer("/v2/fraud/scorer/tags/list", &token).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Another repository: asked for a token that covers it.
    app.create_model("fraud", "other").await;
    let r = bearer("/v2/fraud/other/tags/list", &token).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&r, "www-authenticate");
    assert!(
        challenge.contains("scope=\"repository:fraud/other:pull\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // Never an API token: not on /v1, not at the token endpoint.
    let r = bearer("/v1/whoami", &token).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = bearer("/v2/token?scope=repository:fraud/scorer:pull", &token)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Without credentials, or with wrong ones, no token.
    let r = f
        .oci(
            Method::GET,
            "/v2/token?scope=repository:fraud/scorer:pull",
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = f
        .get("/v2/token", "sgn_not-a-real-token-not-a-real-token-xx")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A scope of another service, or a repository that is no name, is refused.
    let r = f.get("/v2/token?service=docker.io", &f.deployer).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = f
        .get("/v2/token?scope=repository:Fraud/x:pull", &f.deployer)
        .await;
    assert_eq!(oci_error(r).await["code"], "NAME_INVALID");
    // A scope without pull grants nothing.
    let push_only = registry_token(&f, &f.deployer, "repository:fraud/scorer:push").await;
    let r = bearer("/v2/fraud/scorer/tags/list", &push_only)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Expired: refused like any token.
    let expiring = registry_token(&f, &f.deployer, "repository:fraud/scorer:pull").await;
    assert_eq!(
        bearer("/v2/", &expiring).await.unwrap().status(),
        StatusCode::OK
    );
    app.sql("UPDATE registry_tokens SET expires_at = created_at")
        .await;
    let r = bearer("/v2/fraud/scorer/tags/list", &expiring)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").contains("error=\"invalid_token\""));

    // The API token it was minted with revoked: the registry token falls with it.
    let fresh = registry_token(&f, &f.deployer, "repository:fraud/scorer:pull").await;
    assert_eq!(
        bearer("/v2/fraud/scorer/tags/list", &fresh)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let who = app.whoami(&f.deployer).await;
    let id = who["token_id"].as_str().unwrap();
    let r = app
        .req(Method::DELETE, &format!("/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = bearer("/v2/fraud/scorer/tags/list", &fresh).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A Host that could break out of the challenge's quotes is not echoed.
    let r = app
        .anon(Method::GET, "/v2/")
        .header("Host", "evil.example\",error=\"x")
        .send()
        .await
        .unwrap();
    let challenge = header(&r, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"http://localhost/v2/token\""),
        "{challenge}"
    );
    assert!(!challenge.contains("evil"), "{challenge}");

    // The realm is built from the configured public URL where there is one.
    let behind = TestApp::spawn_with(b, |c| {
        c.public_url = Some("https://models.example.com".into());
    })
    .await;
    let r = behind.anon(Method::GET, "/v2/").send().await.unwrap();
    assert!(
        header(&r, "www-authenticate")
            .starts_with("Bearer realm=\"https://models.example.com/v2/token\"")
    );
}

async fn the_oci_face_is_read_only(b: Backend) {
    let f = fixture(b).await;
    let d = digest(b"x");
    for (method, path) in [
        (Method::POST, "/v2/fraud/scorer/blobs/uploads/".to_owned()),
        (Method::PUT, "/v2/fraud/scorer/manifests/v9".to_owned()),
        (Method::DELETE, "/v2/fraud/scorer/manifests/v1".to_owned()),
        (Method::DELETE, format!("/v2/fraud/scorer/blobs/{d}")),
        (
            Method::PATCH,
            "/v2/fraud/scorer/blobs/uploads/abc".to_owned(),
        ),
        (
            Method::PUT,
            format!("/v2/fraud/scorer/blobs/uploads/abc?digest={d}"),
        ),
    ] {
        let r = f
            .oci(method.clone(), &path, Some(&f.app.admin))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let e = oci_error(r).await;
        assert_eq!(e["code"], "UNSUPPORTED");
        assert!(
            e["message"].as_str().unwrap().contains("signet push"),
            "{e}"
        );
    }
    // Nothing was written: the tags are as they were.
    assert_eq!(tags_of(&f, &f.app.admin).await, ["production", "v1", "v2"]);
}

async fn oci_requests_are_audited_rate_limited_and_charged_to_the_quota(b: Backend) {
    let f = fixture_with(b, |c| {
        c.download_quota = "5KiB/100".parse().unwrap();
        c.download_quota_roles = "".parse().unwrap();
    })
    .await;
    let app = &f.app;
    let weights = &f.files.iter().find(|(p, _)| *p == "weights.bin").unwrap().1;
    let path = format!("/v2/fraud/scorer/blobs/{}", digest(weights));
    assert_eq!(f.get(&path, &f.deployer).await.status(), StatusCode::OK);
    // The access log has the pull, filed under the model, with what it served.
    let events = crate::audit::events(app, "model=fraud/scorer&principal=deploy-bot").await;
    let pulled = events
        .iter()
        .find(|e| e["action"] == "GET /v2/{ns}/{model}/blobs/{digest}")
        .unwrap_or_else(|| panic!("no blob event in {events:?}"));
    assert_eq!(pulled["outcome"], "allowed");
    assert_eq!(detail_of(pulled)["bytes"], weights.len());
    // The quota (5 KiB a day): a second pull of the 3000 bytes does not fit.
    let r = f.get(&path, &f.deployer).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() > 0);
    assert_eq!(oci_error(r).await["code"], "TOOMANYREQUESTS");
    // A refused pull is in the log as refused, with its reasons.
    let r = f.get("/v2/fraud/scorer/manifests/v2", &f.deployer).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let events = crate::audit::events(app, "model=fraud/scorer&outcome=refused").await;
    assert!(
        events.iter().any(
            |e| e["action"] == "GET /v2/{ns}/{model}/manifests/{reference}"
                && e["principal"] == "deploy-bot"
        ),
        "{events:?}"
    );

    // The request rate: over it, TOOMANYREQUESTS with Retry-After.
    let limited = TestApp::spawn_with(b, |c| {
        c.rate_limit = "60/min:2".parse().unwrap();
        c.rate_limit_roles = "".parse().unwrap();
    })
    .await;
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        let r = limited
            .anon(Method::GET, "/v2/")
            .header("Authorization", basic(&limited.admin))
            .send()
            .await
            .unwrap();
        last = r.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().get("retry-after").is_some());
            assert_eq!(oci_error(r).await["code"], "TOOMANYREQUESTS");
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn tampered_layer_bytes_never_reach_an_oci_client(b: Backend) {
    let f = fixture(b).await;
    let weights = f
        .files
        .iter()
        .find(|(p, _)| *p == "weights.bin")
        .unwrap()
        .1
        .clone();
    // Find the stored object holding the weights, and flip a byte of it.
    use object_store::ObjectStoreExt;
    let mut target = None;
    for path in f.app.stored_objects().await {
        let got = f.app.raw.get(&path).await.unwrap().bytes().await.unwrap();
        if got == weights {
            target = Some(path);
        }
    }
    let target = target.expect("the weights are stored");
    let mut tampered = weights.clone();
    tampered[100] ^= 1;
    f.app
        .raw
        .put(&target, object_store::PutPayload::from(tampered))
        .await
        .unwrap();
    let path = format!("/v2/fraud/scorer/blobs/{}", digest(&weights));
    let sent = f.oci(Method::GET, &path, Some(&f.app.admin)).send().await;
    // Whole-file answers hold their last chunk until the digest matches: the
    // answer is cut off (here before its head, the file being one chunk), and
    // never delivers the altered bytes whole.
    let delivered = match sent {
        Ok(r) if r.status() == StatusCode::OK => r.bytes().await.ok(),
        Ok(r) => panic!("an answer that is not the blob: {}", r.status()),
        Err(_) => None,
    };
    assert!(
        delivered.is_none_or(|b| b.len() < weights.len()),
        "altered bytes were served whole"
    );
}

async fn malformed_names_digests_tags_and_ranges_get_clear_errors(b: Backend) {
    let f = fixture(b).await;
    for (path, status, code) in [
        ("/v2/fraud/scorer/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        ("/v2/fraud/scorer/blobs/sha256:ZZ", 400, "DIGEST_INVALID"),
        ("/v2/fraud/scorer/blobs/md5", 400, "DIGEST_INVALID"),
        (
            "/v2/fraud/scorer/referrers/notadigest",
            400,
            "DIGEST_INVALID",
        ),
        (
            "/v2/fraud/scorer/manifests/sha256:1234",
            400,
            "DIGEST_INVALID",
        ),
        ("/v2/fraud/scorer/manifests/-bad", 400, "TAG_INVALID"),
        ("/v2/Fraud/scorer/tags/list", 400, "NAME_INVALID"),
        ("/v2/fraud/scorer/extra/manifests/v1", 404, "NAME_UNKNOWN"),
        ("/v2/fraud/scorer/tags/list?n=-1", 400, "UNSUPPORTED"),
    ] {
        let r = f.admin_get(path).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        let e = oci_error(r).await;
        assert_eq!(e["code"], code, "{path}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    // A digest of another algorithm names nothing here.
    let other = format!("sha512:{}", "ab".repeat(64));
    let r = f
        .admin_get(&format!("/v2/fraud/scorer/blobs/{other}"))
        .await;
    assert_eq!(oci_error(r).await["code"], "BLOB_UNKNOWN");
    // A range past the end: 416 with the blob's size.
    let config = {
        let m: Value = f
            .admin_get("/v2/fraud/scorer/manifests/v1")
            .await
            .json()
            .await
            .unwrap();
        m["config"].clone()
    };
    let r = f
        .oci(
            Method::GET,
            &format!(
                "/v2/fraud/scorer/blobs/{}",
                config["digest"].as_str().unwrap()
            ),
            Some(&f.app.admin),
        )
        .header("Range", "bytes=99999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes */{}", config["size"])
    );
    // A range of the config blob itself.
    let r = f
        .oci(
            Method::GET,
            &format!(
                "/v2/fraud/scorer/blobs/{}",
                config["digest"].as_str().unwrap()
            ),
            Some(&f.app.admin),
        )
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 10);
}

async fn redirects_hand_out_presigned_urls_of_exactly_that_object(b: Backend) {
    let f = fixture_with(b, |c| c.redirect_secs = 60).await;
    let weights = f
        .files
        .iter()
        .find(|(p, _)| *p == "weights.bin")
        .unwrap()
        .1
        .clone();
    let path = format!("/v2/fraud/scorer/blobs/{}", digest(&weights));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(format!("{}{path}", f.app.base))
        .header("Authorization", basic(&f.deployer))
        .send()
        .await
        .unwrap();
    match b {
        // A local directory cannot presign: the layer is served through Signet.
        Backend::Sqlite => {
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.bytes().await.unwrap(), weights);
        }
        Backend::Postgres => {
            assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
            let location = header(&r, "location");
            assert!(location.contains("X-Amz-Signature"), "{location}");
            // The URL fetches exactly that object, without credentials.
            let got = reqwest::get(&location).await.unwrap();
            assert_eq!(got.status(), StatusCode::OK);
            assert_eq!(got.bytes().await.unwrap(), weights);
            // The access log has the redirect with the bytes it stands for.
            let query = "model=fraud/scorer&principal=deploy-bot";
            let events = crate::audit::events(&f.app, query).await;
            let e = events
                .iter()
                .find(|e| e["action"] == "GET /v2/{ns}/{model}/blobs/{digest}")
                .unwrap_or_else(|| panic!("{events:?}"));
            assert_eq!(detail_of(e)["redirect"], true);
            assert_eq!(detail_of(e)["bytes"], weights.len());
        }
    }
    // `signet pull` takes the same path when offered (it checks every byte
    // against the signed statement): the pulled files are the files.
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path();
    std::fs::write(cfg.join("ci.pub"), &f.signer.pem).unwrap();
    let env = [
        ("SIGNET_URL", f.app.base.as_str()),
        ("SIGNET_TOKEN", f.deployer.as_str()),
    ];
    let args = [
        "pull",
        "fraud/scorer@production",
        "out",
        "--trust-key",
        "ci.pub",
    ];
    let run = crate::cli::signet(cfg, &args, "", &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (path, bytes) in &f.files {
        assert_eq!(
            &std::fs::read(cfg.join("out").join(path)).unwrap(),
            bytes,
            "{path}"
        );
    }
    let events = crate::audit::events(&f.app, "principal=deploy-bot").await;
    let redirected = events
        .iter()
        .filter(|e| e["action"] == "GET /v1/models/{ns}/{model}/versions/{v}/files/{path}")
        .filter(|e| detail_of(e)["redirect"] == true)
        .count();
    let expected = match b {
        Backend::Sqlite => 0,
        Backend::Postgres => f.files.len(),
    };
    assert_eq!(redirected, expected, "{events:?}");

    // A config is always served by Signet (it is made there).
    let m: Value = f
        .admin_get("/v2/fraud/scorer/manifests/v1")
        .await
        .json()
        .await
        .unwrap();
    let config = format!(
        "/v2/fraud/scorer/blobs/{}",
        m["config"]["digest"].as_str().unwrap()
    );
    let r = no_redirects
        .get(format!("{}{config}", f.app.base))
        .header("Authorization", basic(&f.deployer))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

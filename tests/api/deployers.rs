//! Deployers held to the gate: what `/v1` downloads let a deployer pull under
//! each pull policy, and refusals that say what failed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::{page, sign_in};
use crate::helpers::{Backend, Signer, TestApp, full_lineage, safetensors_bytes};

crate::on_both_backends!(
    deployers_pull_only_what_the_gates_stage_free_checks_allow,
    an_aliased_policy_lets_deployers_pull_only_aliased_versions,
    a_refused_promotion_names_what_failed_for_each_reason,
    the_console_offers_a_pull_only_where_a_deployer_could_use_it,
);

/// A pickle that calls `os.system` (the GLOBAL opcode at byte 12).
const PICKLE: &[u8] =
    b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.";

struct Setup {
    app: TestApp,
    signer: Signer,
    deployer: String,
}

async fn setup(b: Backend) -> Setup {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    let signer = Signer::generate();
    let r = signer.register(&app, "ci-fraud", &["fraud"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let deployer = app.member_token("deploy-bot", "fraud", "deployer").await;
    Setup {
        app,
        signer,
        deployer,
    }
}

impl Setup {
    /// A sealed version holding `files`, signed by the namespace's key.
    async fn signed(&self, lineage: Value, files: &[(&str, &[u8])]) -> i64 {
        let (v, st) = self
            .app
            .sealed_version("fraud", "scorer", lineage, files)
            .await;
        let r = self
            .app
            .sign("fraud", "scorer", v, &self.signer.envelope(&st))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        v
    }

    /// A deployer's download of one file: its status and, for an error, the
    /// error object.
    async fn pull(&self, v: i64, path: &str) -> (StatusCode, Value) {
        pull_as(&self.app, &self.deployer, v, path).await
    }

    async fn set_policy(&self, policy: Value) {
        let r = self
            .app
            .req(Method::PUT, "/v1/namespaces/fraud/policy")
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
}

async fn pull_as(app: &TestApp, token: &str, v: i64, path: &str) -> (StatusCode, Value) {
    let r = app
        .anon(
            Method::GET,
            &format!("/v1/models/fraud/scorer/versions/{v}/files/{path}"),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = match status.is_success() {
        true => Value::Null,
        false => r.json::<Value>().await.unwrap()["error"].clone(),
    };
    (status, body)
}

fn reasons(err: &Value) -> Vec<&str> {
    err["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons in {err}"))
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

/// The detail of one reason.
fn detail<'a>(err: &'a Value, reason: &str) -> &'a Value {
    err["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details in {err}"))
        .iter()
        .find(|d| d["reason"] == reason)
        .unwrap_or_else(|| panic!("no {reason} in {err}"))
}

async fn deployers_pull_only_what_the_gates_stage_free_checks_allow(b: Backend) {
    let s = setup(b).await;
    let w = safetensors_bytes();
    // Signed and safe: pulled, though never promoted (the default is `gated`).
    let ok = s.signed(json!({}), &[("model.safetensors", &w)]).await;
    assert_eq!(s.pull(ok, "model.safetensors").await.0, StatusCode::OK);

    // Signed, holding a pickle: refused, naming the file and what was found.
    let pickled = s
        .signed(
            json!({}),
            &[("model.safetensors", &w), ("model.pkl", PICKLE)],
        )
        .await;
    for path in ["model.safetensors", "model.pkl"] {
        let (status, err) = s.pull(pickled, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(err["code"], "version_not_verified");
        assert_eq!(reasons(&err), ["unsafe_format"]);
        let d = detail(&err, "unsafe_format");
        assert_eq!(d["files"][0]["path"], "model.pkl");
        assert_eq!(d["files"][0]["format"], "pickle");
        assert!(
            d["files"][0]["finding"]
                .as_str()
                .unwrap()
                .contains("GLOBAL"),
            "{d}"
        );
        assert!(d["message"].as_str().unwrap().contains("model.pkl"), "{d}");
    }
    // A publisher and a maintainer still reach it (they build and inspect).
    let publisher = s.app.member_token("ci", "fraud", "publisher").await;
    assert_eq!(
        pull_as(&s.app, &publisher, pickled, "model.pkl").await.0,
        StatusCode::OK
    );
    // So does a deployer once the policy allows such files.
    s.set_policy(json!({"allow_unsafe_formats": true})).await;
    assert_eq!(s.pull(pickled, "model.pkl").await.0, StatusCode::OK);

    // Sealed but unsigned; a draft; files of no known format under `deny`.
    let (unsigned, _) = s
        .app
        .sealed_version("fraud", "scorer", json!({}), &[("model.safetensors", &w)])
        .await;
    let (status, err) = s.pull(unsigned, "model.safetensors").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reasons(&err), ["unsigned"]);
    assert_eq!(
        detail(&err, "unsigned")["signatures"],
        json!({"counted": 0, "required": 1})
    );
    let draft: Value = s
        .app
        .create_version("fraud", "scorer", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let draft = draft["version"].as_i64().unwrap();
    s.app
        .put_file("fraud", "scorer", draft, "m.safetensors", w.clone(), None)
        .await;
    let (status, err) = s.pull(draft, "m.safetensors").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reasons(&err), ["not_sealed"]);
    let opaque = s.signed(json!({}), &[("blob.bin", b"\x01\x02\x03")]).await;
    assert_eq!(s.pull(opaque, "blob.bin").await.0, StatusCode::OK);
    s.set_policy(json!({"unknown_formats": "deny"})).await;
    let (status, err) = s.pull(opaque, "blob.bin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reasons(&err), ["unknown_format"]);
    assert_eq!(
        detail(&err, "unknown_format")["files"][0]["path"],
        "blob.bin"
    );

    // Two signatures required, one present: counted against the policy.
    s.set_policy(json!({"min_signatures": 2})).await;
    let (status, err) = s.pull(ok, "model.safetensors").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reasons(&err), ["insufficient_signatures"]);
    assert_eq!(
        detail(&err, "insufficient_signatures")["signatures"],
        json!({"counted": 1, "required": 2})
    );
    s.set_policy(json!({})).await;

    // Quarantined: the quarantine's id, reason and author.
    let q: Value = s
        .app
        .req(Method::POST, "/v1/quarantines")
        .json(
            &json!({"kind": "version", "value": format!("fraud/scorer@{ok}"),
                      "reason": "label flipping found"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, err) = s.pull(ok, "model.safetensors").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "quarantined");
    assert_eq!(reasons(&err), ["quarantined"]);
    let held = &detail(&err, "quarantined")["quarantines"][0];
    assert_eq!(held["id"], q["id"]);
    assert_eq!(held["kind"], "version");
    assert_eq!(held["reason"], "label flipping found");
    assert_eq!(held["created_by"], q["created_by"]);
}

async fn an_aliased_policy_lets_deployers_pull_only_aliased_versions(b: Backend) {
    let s = setup(b).await;
    let w = safetensors_bytes();
    let v1 = s.signed(full_lineage(), &[("m.safetensors", &w)]).await;
    let v2 = s.signed(full_lineage(), &[("m.safetensors", &w)]).await;
    let v3 = s.signed(full_lineage(), &[("m.safetensors", &w)]).await;
    s.set_policy(json!({"deployer_pulls": "aliased"})).await;
    let policy: Value = s
        .app
        .req(Method::GET, "/v1/namespaces/fraud/policy")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policy["aliased_grace_minutes"], 60, "{policy}");

    // Nothing aliased yet: every pull refused, saying why.
    for v in [v1, v2, v3] {
        let (status, err) = s.pull(v, "m.safetensors").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(err["code"], "version_not_verified");
        assert_eq!(reasons(&err), ["not_aliased"]);
    }
    assert_eq!(
        s.app
            .promote("fraud", "scorer", "production", v1)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(s.pull(v1, "m.safetensors").await.0, StatusCode::OK);
    // production moves on: v1 stays pullable within the grace period (an
    // in-flight rollout, a rollback); v3, never aliased, is not.
    assert_eq!(
        s.app
            .promote("fraud", "scorer", "production", v2)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(s.pull(v2, "m.safetensors").await.0, StatusCode::OK);
    assert_eq!(s.pull(v1, "m.safetensors").await.0, StatusCode::OK);
    assert_eq!(s.pull(v3, "m.safetensors").await.0, StatusCode::FORBIDDEN);
    // Without a grace period, v1 is out the moment production left it.
    s.set_policy(json!({"deployer_pulls": "aliased", "aliased_grace_minutes": 0}))
        .await;
    let (status, err) = s.pull(v1, "m.safetensors").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reasons(&err), ["not_aliased"]);
    assert_eq!(s.pull(v2, "m.safetensors").await.0, StatusCode::OK);
    // Being aliased never overrides the gate: a quarantine still refuses.
    s.app
        .req(Method::POST, "/v1/quarantines")
        .json(
            &json!({"kind": "version", "value": format!("fraud/scorer@{v2}"),
                      "reason": "bad"}),
        )
        .send()
        .await
        .unwrap();
    let (status, err) = s.pull(v2, "m.safetensors").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reasons(&err), ["quarantined"]);
    // A grace beyond a week, or a policy that is not one of the two, is refused.
    for bad in [
        json!({"aliased_grace_minutes": 10081}),
        json!({"deployer_pulls": "latest"}),
    ] {
        let r = s
            .app
            .req(Method::PUT, "/v1/namespaces/fraud/policy")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn a_refused_promotion_names_what_failed_for_each_reason(b: Backend) {
    let s = setup(b).await;
    let lineage = json!({"code": {"commit": "ab".repeat(20)}});
    let v = s
        .signed(
            lineage,
            &[
                ("model.pkl", PICKLE),
                ("w.safetensors", &safetensors_bytes()),
            ],
        )
        .await;
    let r = s.app.promote("fraud", "scorer", "production", v).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let err = r.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(err["code"], "promotion_refused");
    assert_eq!(reasons(&err), ["lineage_incomplete", "unsafe_format"]);
    let lineage = detail(&err, "lineage_incomplete");
    assert_eq!(lineage["stage"], "production");
    assert_eq!(lineage["missing"], json!(["data", "environment"]));
    let message = lineage["message"].as_str().unwrap();
    assert!(
        message.contains("production") && message.contains("data, environment"),
        "{message}"
    );
    assert_eq!(
        detail(&err, "unsafe_format")["files"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A revoked key's signature: named with its key.
    let r = s
        .app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", s.signer.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.app.promote("fraud", "scorer", "staging", v).await;
    let err = r.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(reasons(&err), ["key_revoked", "unsafe_format"]);
    let revoked = detail(&err, "key_revoked");
    assert_eq!(
        revoked["signatures"]["not_counted"],
        json!([{"keyid": s.signer.keyid, "key_name": "ci-fraud", "status": "key_revoked"}])
    );
    assert!(
        revoked["message"].as_str().unwrap().contains("ci-fraud"),
        "{revoked}"
    );
}

async fn the_console_offers_a_pull_only_where_a_deployer_could_use_it(b: Backend) {
    let s = setup(b).await;
    let w = safetensors_bytes();
    let ok = s.signed(json!({}), &[("m.safetensors", &w)]).await;
    let pickled = s.signed(json!({}), &[("model.pkl", PICKLE)]).await;
    let (session, _) = sign_in(&s.app, &s.app.admin).await;
    let page = |v: i64| {
        let (app, session) = (&s.app, &session);
        async move {
            let (status, _, text) = page(
                app,
                session,
                &format!("/ui/models/fraud/scorer/versions/{v}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            text
        }
    };
    let shown = page(ok).await;
    assert!(shown.contains(&format!("signet pull fraud/scorer@{ok} ./model")));
    assert!(shown.contains("Deployers may pull this version now."));
    let shown = page(pickled).await;
    assert!(
        !shown.contains("signet pull"),
        "no pull offered for a version deployers cannot pull"
    );
    assert!(shown.contains("Deployers cannot pull this version now"));
    assert!(
        shown.contains("model.pkl (pickle"),
        "the file and its finding"
    );
}

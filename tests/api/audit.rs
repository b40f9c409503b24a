//! The access log: what it records, that it fails closed, and that tampering shows.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, error_code, full_lineage};

crate::on_both_backends!(
    allowed_denied_and_invalid_requests_are_recorded_without_secrets,
    edited_deleted_or_reordered_events_break_verification,
    when_the_log_cannot_be_written_nothing_happens,
    the_chain_stays_valid_under_32_concurrent_writers,
    maintainers_read_their_namespace_and_global_auditors_everything,
    archiving_old_events_keeps_the_chain_verifiable,
    a_query_across_namespaces_is_filed_under_none_of_them,
    a_question_asked_on_the_way_does_not_turn_a_miss_into_a_denial,
);

/// Row locks are PostgreSQL's: what they must not make writers wait for.
mod postgres_locks {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_wait_neither_for_the_chains_head_nor_for_other_promotions() {
        if crate::helpers::postgres_opted_out() {
            return;
        }
        super::writes_wait_neither_for_the_chains_head_nor_for_other_promotions().await
    }
}

pub(crate) async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .req(Method::GET, &format!("/v1/audit?limit=1000&{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn verify(app: &TestApp) -> Value {
    app.req(Method::GET, "/v1/audit/verify")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn allowed_denied_and_invalid_requests_are_recorded_without_secrets(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "m.bin", b"weights".to_vec(), None)
        .await;
    let r = app.get_file(&ns, &model, v, "m.bin").await;
    assert_eq!(r.bytes().await.unwrap(), "weights");
    app.anon(Method::GET, "/v1/whoami")
        .bearer_auth("sgn_not-a-real-token-0000000000000000000")
        .send()
        .await
        .unwrap();
    app.req(Method::POST, "/v1/models")
        .json(&json!({"namespace": "fraud", "name": "Bad"}))
        .send()
        .await
        .unwrap();
    let r = app
        .req(Method::POST, "/v1/tokens")
        .json(&json!({"principal": "admin"}))
        .send()
        .await
        .unwrap();
    let minted = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let download = events(
        &app,
        "action=GET%20/v1/models/%7Bns%7D/%7Bmodel%7D/versions/%7Bv%7D/files/%7Bpath%7D",
    )
    .await;
    assert_eq!(download.len(), 1);
    let d = &download[0];
    assert_eq!(d["principal"], "admin");
    assert_eq!(d["namespace"], "fraud");
    assert_eq!(d["model"], "fraud/scorer");
    assert_eq!(
        d["resource"],
        format!("/v1/models/fraud/scorer/versions/{v}/files/m.bin")
    );
    assert_eq!(d["outcome"], "allowed");
    assert_eq!(d["status"], 200);
    assert_eq!(d["client_addr"], "127.0.0.1");
    assert_eq!(
        serde_json::from_str::<Value>(d["detail"].as_str().unwrap()).unwrap(),
        json!({"bytes": 7, "version": v})
    );

    let denied = events(&app, "outcome=denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["status"], 401);
    assert_eq!(denied[0]["principal"], Value::Null);
    // A refused attempt on a model is filed under it, even without a valid token.
    app.anon(
        Method::GET,
        &format!("/v1/models/fraud/scorer/versions/{v}/files/m.bin"),
    )
    .send()
    .await
    .unwrap();
    let refused = events(&app, "model=fraud/scorer&outcome=denied").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["namespace"], "fraud");
    assert_eq!(refused[0]["principal"], Value::Null);
    let invalid = events(&app, "outcome=error").await;
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["status"], 400);
    let upload = events(
        &app,
        "action=PUT%20/v1/models/%7Bns%7D/%7Bmodel%7D/versions/%7Bv%7D/files/%7Bpath%7D",
    )
    .await;
    assert_eq!(
        upload[0]["status"], 201,
        "a committed change records its success status"
    );

    // A version read twice by one token (the second may start from what the
    // service kept of the token) names the caller and its token both times;
    // once the token is revoked, the read is refused and names no one.
    let me = app.whoami(&minted).await;
    let version = format!("/v1/models/fraud/scorer/versions/{v}");
    for _ in 0..2 {
        assert_eq!(app.status_as(&version, &minted).await, StatusCode::OK);
    }
    let r = app
        .req(
            Method::DELETE,
            &format!("/v1/tokens/{}", me["token_id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.status_as(&version, &minted).await,
        StatusCode::UNAUTHORIZED
    );
    let reads = events(
        &app,
        "action=GET%20/v1/models/%7Bns%7D/%7Bmodel%7D/versions/%7Bv%7D",
    )
    .await;
    let seen: Vec<_> = reads
        .iter()
        .map(|e| {
            (
                e["status"].clone(),
                e["principal"].clone(),
                e["token_id"].clone(),
            )
        })
        .collect();
    let (ok, no_one) = (
        (json!(200), json!("admin"), me["token_id"].clone()),
        (json!(401), Value::Null, Value::Null),
    );
    assert_eq!(seen, [no_one, ok.clone(), ok], "newest first");

    // No token value anywhere in the log, whatever the traffic.
    let all = app
        .req(Method::GET, "/v1/audit/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(all.lines().count() >= 9);
    for secret in [app.admin.as_str(), minted.as_str(), "sgn_"] {
        assert!(!all.contains(secret), "a token leaked into the log");
    }
    let report = verify(&app).await;
    assert_eq!(report["ok"], true);
    assert_eq!(report["checked"], report["head"]["seq"]);
}

async fn edited_deleted_or_reordered_events_break_verification(b: Backend) {
    for (case, sabotage) in [
        // A status no answer has, so the edit changes event 3 whichever it is
        // (writes and reads reach the chain by different paths, so its place
        // is not fixed).
        ("edit", "UPDATE audit_events SET status = 299 WHERE seq = 3"),
        ("delete", "DELETE FROM audit_events WHERE seq = 3"),
        (
            "reorder",
            "UPDATE audit_events SET seq = -1 WHERE seq = 3; \
             UPDATE audit_events SET seq = 3 WHERE seq = 4; \
             UPDATE audit_events SET seq = 4 WHERE seq = -1",
        ),
        (
            "truncate the tip",
            "DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)",
        ),
    ] {
        let app = TestApp::spawn(b).await;
        app.given_draft().await;
        for _ in 0..3 {
            app.req(Method::GET, "/v1/whoami").send().await.unwrap();
        }
        let clean = verify(&app).await;
        assert_eq!(clean["ok"], true, "{case}");
        let head = clean["head"]["seq"].as_i64().unwrap();
        app.sql(sabotage).await;
        let report = verify(&app).await;
        assert_eq!(report["ok"], false, "{case} must be caught");
        let bad = report["first_bad_seq"].as_i64().unwrap();
        if case == "truncate the tip" {
            // The verify call itself appended after the sabotage, so the break is
            // where the deleted event was.
            assert_eq!(bad, head + 1, "{case}");
        } else {
            assert_eq!(bad, 3, "{case}");
        }
    }
}

async fn when_the_log_cannot_be_written_nothing_happens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "m.bin", b"weights".to_vec(), None)
        .await;
    // The log is its chain and the inbox where writes' events wait for it.
    let offline = match b {
        Backend::Postgres => {
            "CREATE FUNCTION audit_offline() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'offline'; END $$ \
             LANGUAGE plpgsql; CREATE TRIGGER audit_offline BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_offline(); \
             CREATE TRIGGER inbox_offline BEFORE INSERT ON audit_inbox \
             FOR EACH ROW EXECUTE FUNCTION audit_offline();"
        }
        Backend::Sqlite => {
            "CREATE TRIGGER audit_offline BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'offline'); END; \
             CREATE TRIGGER inbox_offline BEFORE INSERT ON audit_inbox \
             BEGIN SELECT RAISE(ABORT, 'offline'); END;"
        }
    };
    app.sql(offline).await;

    let r = app.create_model(&ns, "shadow").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(r).await, "unavailable");
    let r = app
        .put_file(&ns, &model, v, "m.bin", b"replaced".to_vec(), None)
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = app.get_file(&ns, &model, v, "m.bin").await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no byte leaves unrecorded"
    );
    assert_eq!(
        app.req(Method::GET, "/v1/whoami")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    app.sql(match b {
        Backend::Postgres => {
            "DROP TRIGGER audit_offline ON audit_events; DROP TRIGGER inbox_offline ON audit_inbox"
        }
        Backend::Sqlite => "DROP TRIGGER audit_offline; DROP TRIGGER inbox_offline",
    })
    .await;
    // Nothing changed while the log was down.
    assert_eq!(
        app.req(Method::GET, &format!("/v1/models/{ns}/shadow"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_file(&ns, &model, v, "m.bin")
            .await
            .bytes()
            .await
            .unwrap(),
        "weights"
    );
    assert_eq!(verify(&app).await["ok"], true);
}

async fn the_chain_stays_valid_under_32_concurrent_writers(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let before = verify(&app).await["head"]["seq"].as_i64().unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let req = if i % 2 == 0 {
                app.req(Method::POST, &format!("/v1/models/{ns}/{model}/versions"))
                    .json(&json!({}))
            } else {
                app.req(Method::GET, "/v1/whoami")
            };
            tokio::spawn(async move { req.send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_success());
    }
    let report = verify(&app).await;
    assert_eq!(report["ok"], true);
    // The 32 requests and the first verify call, gap-free.
    assert_eq!(report["head"]["seq"].as_i64().unwrap(), before + 1 + 32);
    assert_eq!(report["checked"], report["head"]["seq"]);
}

async fn maintainers_read_their_namespace_and_global_auditors_everything(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    app.create_namespace("search").await;
    let maria = app.member_token("maria", "fraud", "maintainer").await;
    let eve = app.member_token("eve", "*", "auditor").await;
    app.create_model("fraud", "a").await;
    app.create_model("search", "b").await;

    let get = |t: &str, q: &str| {
        app.anon(Method::GET, &format!("/v1/audit?{q}"))
            .bearer_auth(t.to_owned())
            .send()
    };
    let r = get(&maria, "namespace=fraud").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let items: Value = r.json().await.unwrap();
    assert!(
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["namespace"] == "fraud")
    );
    assert!(!items["items"].as_array().unwrap().is_empty());
    assert_eq!(
        get(&maria, "namespace=search").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&maria, "").await.unwrap().status(),
        StatusCode::BAD_REQUEST,
        "a maintainer names the namespace"
    );
    // The whole chain's check: for her namespace only, naming it.
    let verify_as = |q: &'static str| {
        app.anon(Method::GET, &format!("/v1/audit/verify{q}"))
            .bearer_auth(&maria)
            .send()
    };
    assert_eq!(
        verify_as("").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        verify_as("?namespace=search").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let r = verify_as("?namespace=fraud").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["namespace"], "fraud");
    assert_eq!(report["first_bad_seq"], Value::Null);

    let r = get(&eve, "").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let all: Value = r.json().await.unwrap();
    let namespaces: std::collections::BTreeSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["namespace"].as_str())
        .collect();
    assert!(namespaces.contains("fraud") && namespaces.contains("search"));
    let r = app
        .anon(Method::GET, "/v1/audit/verify")
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(&eve, "since=not-a-time").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = get(
        &eve,
        "since=2020-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&principal=maria",
    )
    .await
    .unwrap();
    let mine: Value = r.json().await.unwrap();
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["principal"] == "maria")
    );
    assert!(!mine["items"].as_array().unwrap().is_empty());
}

async fn archiving_old_events_keeps_the_chain_verifiable(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_draft().await;
    for _ in 0..5 {
        app.req(Method::GET, "/v1/whoami").send().await.unwrap();
    }
    let store = &*app.store;
    // Only what the transparency log's tree holds is archived.
    let in_tree = |n: u64| {
        crate::helpers::eventually(move || async move {
            store.checkpoint(None).await.unwrap().map_or(0, |c| c.size) >= n
        })
    };
    assert!(in_tree(8).await);
    let mut archive = Vec::new();
    let done = signet::audit::archive(store, store, 6, &mut archive)
        .await
        .unwrap();
    assert_eq!(done.archived, 6);
    let lines: Vec<Value> = String::from_utf8(archive)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5]["seq"], 6);
    assert_eq!(
        lines[5]["hash"],
        done.anchor_hash.as_str(),
        "the anchor is the last archived hash"
    );
    assert_eq!(lines[0]["prev_hash"], signet::audit::GENESIS);

    let report = verify(&app).await;
    assert_eq!(report["ok"], true, "the chain verifies from its new anchor");
    assert_eq!(
        report["checked"].as_i64().unwrap(),
        report["head"]["seq"].as_i64().unwrap() - 6
    );
    assert!(
        events(&app, "")
            .await
            .iter()
            .all(|e| e["seq"].as_i64().unwrap() > 6)
    );
    // Not twice, not past the head, not a broken chain.
    assert!(
        signet::audit::archive(store, store, 6, &mut Vec::new())
            .await
            .is_err()
    );
    assert!(
        signet::audit::archive(store, store, 10_000, &mut Vec::new())
            .await
            .is_err()
    );
    assert!(in_tree(9).await);
    app.sql("UPDATE audit_events SET status = 599 WHERE seq = 8")
        .await;
    let broken = signet::audit::archive(store, store, 9, &mut Vec::new()).await;
    assert!(
        broken
            .as_ref()
            .is_err_and(|e| e.to_string().contains("broken")),
        "{broken:?}"
    );
    assert_eq!(verify(&app).await["first_bad_seq"], 8);
}

/// A lineage query across namespaces belongs to no namespace: it must not land in
/// the log of the namespace whose version it happened to find first, where that
/// namespace's auditors would read someone else's query.
async fn a_query_across_namespaces_is_filed_under_none_of_them(b: Backend) {
    let app = TestApp::spawn(b).await;
    let data = "d1".repeat(32);
    app.create_namespace("fraud").await;
    app.create_namespace("search").await;
    for ns in ["fraud", "search"] {
        app.create_model(ns, "m").await;
        app.sealed_version(
            ns,
            "m",
            json!({"data": [{"sha256": data}]}),
            &[("a.bin", b"a")],
        )
        .await;
    }
    let reader = app.member_token("rita", "fraud", "reader").await;
    let auditor = app.member_token("ana", "fraud", "auditor").await;
    let r = app
        .anon(Method::GET, &format!("/v1/lineage/datasets/{data}"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let hits = r.json::<Value>().await.unwrap()["items"].clone();
    assert_eq!(
        hits.as_array().unwrap().len(),
        1,
        "rita sees fraud's version only"
    );

    let queries = events(&app, "action=GET%20/v1/lineage/datasets/%7Bsha256%7D").await;
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0]["namespace"], Value::Null);
    assert_eq!(queries[0]["outcome"], "allowed");
    let fraud_log = app
        .anon(Method::GET, "/v1/audit?namespace=fraud&limit=1000")
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let filed_in_fraud = fraud_log["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "GET /v1/lineage/datasets/{sha256}");
    assert!(!filed_in_fraud, "fraud's auditors read rita's global query");
}

/// Asking "may this caller pull unverified files?" on the way to a download is a
/// question, not a refusal: a deployer asking for a version that does not exist
/// gets a 404 recorded as an error, while a real refusal is still a denial.
async fn a_question_asked_on_the_way_does_not_turn_a_miss_into_a_denial(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    app.put_file(&ns, &model, v, "m.bin", b"weights".to_vec(), None)
        .await;
    let deployer = app.member_token("dora", &ns, "deployer").await;
    let get = |path: String| app.anon(Method::GET, &path).bearer_auth(&deployer).send();

    let missing = get(format!("/v1/models/{ns}/{model}/versions/99/files/m.bin"))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let unverified = get(format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin"))
        .await
        .unwrap();
    assert_eq!(unverified.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(unverified).await, "version_not_verified");
    let upload = app
        .anon(
            Method::PUT,
            &format!("/v1/models/{ns}/{model}/versions/{v}/files/x.bin"),
        )
        .bearer_auth(&deployer)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);

    let mine = events(&app, "principal=dora").await;
    let by_resource = |suffix: &str, method: &str| {
        mine.iter()
            .find(|e| {
                e["resource"].as_str().unwrap().ends_with(suffix)
                    && e["action"].as_str().unwrap().starts_with(method)
            })
            .unwrap_or_else(|| panic!("no event for {method} {suffix}"))
            .clone()
    };
    let miss = by_resource("versions/99/files/m.bin", "GET");
    assert_eq!(
        (miss["status"].as_i64(), miss["outcome"].as_str()),
        (Some(404), Some("error"))
    );
    let refused = by_resource("files/x.bin", "PUT");
    assert_eq!(
        (refused["status"].as_i64(), refused["outcome"].as_str()),
        (Some(403), Some("denied"))
    );
    assert_eq!(refused["namespace"], ns.as_str());
}

/// An appender mid-batch holds the chain's head, and a promotion in flight holds
/// the trust epoch; meanwhile another promotion and another write go through
/// (their events wait in the inbox), and once the head is free every one of
/// them is in the chain, which verifies.
async fn writes_wait_neither_for_the_chains_head_nor_for_other_promotions() {
    use sqlx::Connection;
    let app = TestApp::spawn(Backend::Postgres).await;
    let (ns, model) = app.given_model().await;
    let signer = Signer::generate();
    assert_eq!(
        signer.register(&app, "ci", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    let (v, st) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"w")])
        .await;
    let r = app.sign(&ns, &model, v, &signer.envelope(&st)).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let mut holder = sqlx::PgConnection::connect(&app.database_url())
        .await
        .unwrap();
    sqlx::raw_sql(
        "BEGIN; SELECT n FROM trust_epoch WHERE id = 1 FOR SHARE; \
         UPDATE audit_head SET seq = seq WHERE id = 1",
    )
    .execute(&mut holder)
    .await
    .unwrap();

    // A writer that queued behind either lock would not answer before the
    // holder lets go, which it does only after these answers.
    let bounded = std::time::Duration::from_secs(10);
    let r = app
        .req(
            Method::PUT,
            &format!("/v1/models/{ns}/{model}/aliases/staging"),
        )
        .json(&json!({"version": v, "reason": "while others hold locks"}))
        .timeout(bounded)
        .send()
        .await
        .expect("the promotion answers while the locks are held");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .req(Method::POST, "/v1/models")
        .json(&json!({"namespace": ns, "name": "second"}))
        .timeout(bounded)
        .send()
        .await
        .expect("the write answers while the locks are held");
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut probe = sqlx::PgConnection::connect(&app.database_url())
        .await
        .unwrap();
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_inbox")
        .fetch_one(&mut probe)
        .await
        .unwrap();
    assert!(waiting >= 2, "the two events wait in the inbox: {waiting}");

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    let report = app
        .req(Method::GET, "/v1/audit/verify")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let logged = events(&app, &format!("namespace={ns}")).await;
    for (action, status) in [
        ("PUT /v1/models/{ns}/{model}/aliases/{alias}", 200),
        ("POST /v1/models", 201),
    ] {
        assert!(
            logged
                .iter()
                .any(|e| e["action"] == action && e["status"] == status),
            "{action} is in the chain"
        );
    }
}

//! Scale-out: three services on one database and one blob store, with requests
//! spread across them. What must hold is what holds for one: version numbers
//! gap-free and unique, alias moves serialized with their history, one audit
//! chain, download quotas counted in total, and a revoked token or removed role
//! refused on the very next request, whichever replica takes it; likewise every
//! change of trust (a key registered or revoked, a quarantine imposed or lifted,
//! a policy replaced), which each replica's trust cache must not outlive.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, error_code, full_lineage};

crate::on_both_backends!(
    three_replicas_keep_one_registry,
    revocations_and_removed_roles_hold_on_every_replica_at_once,
    changes_of_trust_hold_on_every_replica_at_once,
);

/// Three replicas of one registry: the first, then two more beside it.
async fn three(b: Backend, quota: &str) -> [TestApp; 3] {
    let quota = quota.to_owned();
    let a = TestApp::spawn_with(b, move |c| c.download_quota = quota.parse().unwrap()).await;
    let second = a.replica().await;
    let third = a.replica().await;
    [a, second, third]
}

async fn verify(app: &TestApp) -> Value {
    let r = app
        .req(Method::GET, "/v1/audit/verify")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn three_replicas_keep_one_registry(b: Backend) {
    let replicas = three(b, "off/5").await;
    let on = |i: usize| &replicas[i % 3];
    let first = &replicas[0];
    let (ns, model) = first.given_model().await;
    let audit_before = verify(first).await["head"]["seq"].as_i64().unwrap();
    let mut requests = 0;

    // Versions created at once on all three: 1..=30, no gap, no repeat.
    let creates = (0..30).map(|i| {
        let req = on(i)
            .req(Method::POST, &format!("/v1/models/{ns}/{model}/versions"))
            .json(&json!({}));
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["version"]
                .as_i64()
                .unwrap()
        }
    });
    let numbers: BTreeSet<i64> = futures::future::join_all(creates)
        .await
        .into_iter()
        .collect();
    requests += 30;
    assert_eq!(numbers, (1..=30).collect::<BTreeSet<i64>>());

    // Two signed versions, each prepared on a different replica.
    let signer = Signer::generate();
    assert_eq!(
        signer.register(on(1), "ci-fraud", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    requests += 1;
    let mut signed = Vec::new();
    for i in 0..2u8 {
        let replica = on(i as usize + 1);
        let (v, st) = replica
            .sealed_version(&ns, &model, full_lineage(), &[("m.bin", &[i; 1000])])
            .await;
        let r = replica.sign(&ns, &model, v, &signer.envelope(&st)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // create, upload, seal, sign
        requests += 4;
        signed.push(v);
    }

    // Eighteen moves of one alias at once, six on each replica: every one is
    // recorded, each from the version the move before it set.
    let moves = (0..18).map(|i| {
        let req = on(i)
            .req(
                Method::PUT,
                &format!("/v1/models/{ns}/{model}/aliases/champion"),
            )
            .json(&json!({"version": signed[i % 2], "reason": format!("move {i}")}));
        async move { req.send().await.unwrap().status() }
    });
    for status in futures::future::join_all(moves).await {
        assert_eq!(status, StatusCode::OK);
    }
    requests += 18;
    let history: Value = on(2)
        .req(
            Method::GET,
            &format!("/v1/models/{ns}/{model}/aliases/champion/history?limit=100"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    requests += 1;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 18, "no move lost");
    for pair in items.windows(2) {
        assert_eq!(pair[0]["previous_version"], pair[1]["version"]);
    }
    assert_eq!(items[17]["previous_version"], Value::Null);
    for replica in &replicas {
        let now: Value = replica
            .req(
                Method::GET,
                &format!("/v1/models/{ns}/{model}/aliases/champion"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            now["version"], items[0]["version"],
            "every replica sees the last move"
        );
    }
    requests += 3;

    // A quota of 5 files a day holds in total: of 15 downloads at once, five on
    // each replica, 5 are served and 10 refused.
    let carol = first.member_token("carol", &ns, "publisher").await;
    requests += 2;
    let path = format!("/v1/models/{ns}/{model}/versions/{}/files/m.bin", signed[0]);
    let downloads = (0..15).map(|i| {
        let req = on(i).anon(Method::GET, &path).bearer_auth(&carol);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            if status == StatusCode::OK {
                assert_eq!(r.bytes().await.unwrap().len(), 1000);
            }
            status
        }
    });
    let statuses = futures::future::join_all(downloads).await;
    // Served downloads are logged; refusals for going too fast once per caller
    // and window on each replica (the window is each process's own).
    requests += 5
        + (0..3)
            .filter(|r| {
                (0..15).any(|i| i % 3 == *r && statuses[i] == StatusCode::TOO_MANY_REQUESTS)
            })
            .count() as i64;
    let served = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((served, refused), (5, 10), "{statuses:?}");

    // One chain: every request on every replica above, and the first verify
    // call, in sequence with no gap, and every replica verifies it.
    let report = verify(on(1)).await;
    assert_eq!(report["ok"], true, "{report}");
    let head = report["head"]["seq"].as_i64().unwrap();
    assert_eq!(head, audit_before + 1 + requests);
    assert_eq!(report["checked"], report["head"]["seq"]);
    for replica in [on(0), on(2)] {
        let again = verify(replica).await;
        assert_eq!(again["ok"], true, "{again}");
        assert!(again["head"]["seq"].as_i64().unwrap() > head);
    }
}

async fn revocations_and_removed_roles_hold_on_every_replica_at_once(b: Backend) {
    let replicas = three(b, "off").await;
    let (ns, model, v) = replicas[0].given_draft().await;
    let model_path = format!("/v1/models/{ns}/{model}");
    // A version's read may start from the credential a replica kept: it must
    // not outlive what follows either.
    let version_path = format!("{model_path}/versions/{v}");
    let reads = [model_path.as_str(), version_path.as_str()];

    // Dave's token works everywhere, and so does his reader role; each replica
    // has just served him (whatever it keeps from that must not outlive what
    // follows).
    let r = replicas[0]
        .req(Method::PUT, &format!("/v1/namespaces/{ns}/members/dave"))
        .json(&json!({"roles": ["reader"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let minted: Value = replicas[0]
        .req(Method::POST, "/v1/tokens")
        .json(&json!({"principal": "dave"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, dave) = (
        minted["id"].as_str().unwrap().to_owned(),
        minted["token"].as_str().unwrap().to_owned(),
    );
    let erin = replicas[0].member_token("erin", &ns, "reader").await;
    for replica in &replicas {
        assert_eq!(replica.status_as("/v1/whoami", &dave).await, StatusCode::OK);
        for path in reads {
            for token in [&dave, &erin] {
                assert_eq!(replica.status_as(path, token).await, StatusCode::OK);
            }
        }
    }

    // Revoked on the second replica: refused by every replica on the next request.
    let r = replicas[1]
        .req(Method::DELETE, &format!("/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // (The version first: any other read would read the credential afresh.)
    for replica in &replicas {
        for path in [&version_path, "/v1/whoami", &model_path] {
            assert_eq!(
                replica.status_as(path, &dave).await,
                StatusCode::UNAUTHORIZED,
                "{path}"
            );
        }
    }

    // Erin is still served everywhere; each replica keeps her credential as it
    // is now.
    for replica in &replicas {
        assert_eq!(
            replica.status_as(&version_path, &erin).await,
            StatusCode::OK
        );
    }

    // Erin's role removed on the third replica: her token still authenticates,
    // but the namespace is gone from her view on every replica.
    let r = replicas[2]
        .req(Method::DELETE, &format!("/v1/namespaces/{ns}/members/erin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for replica in &replicas {
        for path in [&version_path, &model_path] {
            assert_eq!(
                replica.status_as(path, &erin).await,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        assert_eq!(replica.status_as("/v1/whoami", &erin).await, StatusCode::OK);
    }

    // Given back on the first replica: what the others kept of her while she
    // had no role there does not refuse her either.
    let r = replicas[0]
        .req(Method::PUT, &format!("/v1/namespaces/{ns}/members/erin"))
        .json(&json!({"roles": ["reader"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for replica in replicas.iter().rev() {
        for path in [&version_path, &model_path] {
            assert_eq!(
                replica.status_as(path, &erin).await,
                StatusCode::OK,
                "{path}"
            );
        }
    }

    // Her roles replaced by none on the second replica: what each replica kept
    // of her just now does not outlive it.
    let r = replicas[1]
        .req(Method::PUT, &format!("/v1/namespaces/{ns}/members/erin"))
        .json(&json!({"roles": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for replica in &replicas {
        assert_eq!(
            replica.status_as(&version_path, &erin).await,
            StatusCode::NOT_FOUND
        );
    }
}

/// What a deployer's pull of `path` answers: 200, or the refusal's code.
async fn pull(app: &TestApp, path: &str, token: &str) -> String {
    let r = app
        .anon(Method::GET, path)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::OK {
        return "ok".into();
    }
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    error_code(r).await
}

/// Whether `app` shows version `v` as verified.
async fn verified(app: &TestApp, ns: &str, model: &str, v: i64) -> bool {
    let r = app.get_version(ns, model, v).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["verified"]
        .as_bool()
        .unwrap()
}

async fn changes_of_trust_hold_on_every_replica_at_once(b: Backend) {
    let replicas = three(b, "off").await;
    let (ns, model) = replicas[0].given_model().await;
    let deployer = replicas[0].member_token("dora", &ns, "deployer").await;
    let everywhere = |path: String, want: &'static str| {
        let (replicas, deployer) = (&replicas, &deployer);
        async move {
            for (i, replica) in replicas.iter().enumerate() {
                assert_eq!(
                    pull(replica, &path, deployer).await,
                    want,
                    "replica {i}: {path}"
                );
            }
        }
    };

    // Version 1 signed by key A; every replica has verified it and let it be
    // pulled, so each keeps A, the namespace's policy and the version's
    // quarantine verdict.
    let a = Signer::generate();
    assert_eq!(
        a.register(&replicas[0], "key-a", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    let (v1, st) = replicas[1]
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", &[1; 1000])])
        .await;
    let r = replicas[1].sign(&ns, &model, v1, &a.envelope(&st)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let file = |v: i64| format!("/v1/models/{ns}/{model}/versions/{v}/files/m.bin");
    everywhere(file(v1), "ok").await;

    // Key B registered on the third replica and version 2 signed with it there:
    // the two others, which kept the keys as they were before B, verify it.
    let key_b = Signer::generate();
    assert_eq!(
        key_b.register(&replicas[2], "key-b", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    let (v2, st) = replicas[2]
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", &[2; 1000])])
        .await;
    let r = replicas[2]
        .sign(&ns, &model, v2, &key_b.envelope(&st))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for replica in &replicas {
        assert!(verified(replica, &ns, &model, v2).await);
    }
    everywhere(file(v2), "ok").await;

    // Version 1 quarantined on the second replica: refused by all three;
    // lifted on the third: pulled from all three again.
    let r = replicas[1]
        .req(Method::POST, "/v1/quarantines")
        .json(&json!({"kind": "version", "value": format!("{ns}/{model}@{v1}"), "reason": "checking"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let q: Value = r.json().await.unwrap();
    everywhere(file(v1), "quarantined").await;
    everywhere(file(v2), "ok").await;
    let r = replicas[2]
        .req(
            Method::DELETE,
            &format!(
                "/v1/quarantines/{}?reason=cleared",
                q["id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    everywhere(file(v1), "ok").await;

    // Two signatures required, set on the first replica: neither version
    // verifies anywhere; back to one on the second: both do again.
    let policy = |replica: &TestApp, n: i64| {
        replica
            .req(Method::PUT, &format!("/v1/namespaces/{ns}/policy"))
            .json(&json!({"min_signatures": n}))
            .send()
    };
    assert_eq!(
        policy(&replicas[0], 2).await.unwrap().status(),
        StatusCode::OK
    );
    everywhere(file(v1), "version_not_verified").await;
    everywhere(file(v2), "version_not_verified").await;
    assert_eq!(
        policy(&replicas[1], 1).await.unwrap().status(),
        StatusCode::OK
    );
    everywhere(file(v2), "ok").await;

    // Key A revoked as compromised on the third replica: version 1 is refused
    // by all three, version 2 (key B) still pulled.
    let r = replicas[2]
        .req(Method::POST, &format!("/v1/keys/{}/revoke", a.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    everywhere(file(v1), "version_not_verified").await;
    everywhere(file(v2), "ok").await;
    for replica in &replicas {
        assert!(!verified(replica, &ns, &model, v1).await);
    }
}

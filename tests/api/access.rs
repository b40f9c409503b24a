//! Access control: the route × role matrix, tokens, bindings.

use std::collections::BTreeSet;

use chrono::Utc;
use futures::future::BoxFuture;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use signet::auth::Secret;
use signet::names::PrincipalName;
use signet::store::{Pending, TokenRecord};
use uuid::Uuid;

use crate::helpers::{Backend, EVALUATION, Signer, TestApp, attestation, error_code};

crate::on_both_backends!(
    every_route_answers_each_kind_of_caller_as_the_matrix_says,
    a_removed_role_stops_working_on_the_very_next_request,
    tokens_are_shown_once_listed_without_secrets_and_revocable,
    expired_and_revoked_tokens_are_refused,
    bodies_that_set_server_owned_fields_are_refused,
    namespaces_and_models_are_listed_only_where_the_caller_has_a_role,
    roles_are_validated_for_where_they_are_bound,
);

/// The callers of the matrix: every role bound in `fraud`, plus the odd cases.
const ACTORS: [&str; 12] = [
    "admin",
    "maintainer",
    "publisher",
    "approver",
    "deployer",
    "auditor",
    "reader",
    "no-role",
    "other-namespace",
    "expired-token",
    "revoked-token",
    "no-token",
];
const NS_ROLES: [&str; 6] = [
    "maintainer",
    "publisher",
    "approver",
    "deployer",
    "auditor",
    "reader",
];

/// Who may do what, per route.
#[derive(Clone, Copy)]
enum Rule {
    /// Any authenticated caller.
    Anyone(u16),
    /// Admins only; everyone else authenticated gets 403.
    Admin(u16),
    /// Namespace roles listed may (admin too); other roles of `fraud` get 403;
    /// callers without a role there get 404.
    Roles(u16, &'static [&'static str]),
    /// About public data (keys): the roles listed may (admin too); every other
    /// authenticated caller gets 403.
    Public(u16, &'static [&'static str]),
    /// Takes no token (the identity token exchange): every caller alike.
    Open(u16),
}

const READERS: &[&str] = &[
    "maintainer",
    "publisher",
    "approver",
    "deployer",
    "auditor",
    "reader",
];
const PUBLISHERS: &[&str] = &["maintainer", "publisher"];
const MANAGERS: &[&str] = &["maintainer"];
const PROMOTERS: &[&str] = &["maintainer", "approver"];

impl Rule {
    fn expect(self, actor: &str) -> u16 {
        if let Rule::Open(status) = self {
            return status;
        }
        match actor {
            "expired-token" | "revoked-token" | "no-token" => return 401,
            _ => {}
        }
        match self {
            Rule::Anyone(ok) => ok,
            Rule::Admin(ok) => {
                if actor == "admin" {
                    ok
                } else {
                    403
                }
            }
            Rule::Public(ok, allowed) => {
                if actor == "admin" || allowed.contains(&actor) {
                    ok
                } else {
                    403
                }
            }
            Rule::Roles(ok, allowed) => {
                if actor == "admin" || allowed.contains(&actor) {
                    ok
                } else if NS_ROLES.contains(&actor) {
                    403
                } else {
                    404
                }
            }
            Rule::Open(status) => status,
        }
    }
}

/// Builds one caller's request for a route, preparing what it needs (as admin)
/// so that no request depends on another.
type Build = for<'a> fn(&'a Fixture, &'a str) -> BoxFuture<'a, RequestBuilder>;

struct Fixture {
    app: TestApp,
    tokens: std::collections::HashMap<&'static str, String>,
    signer: Signer,
    /// An attestation of version 2.
    attestation: String,
}

impl Fixture {
    fn call(&self, actor: &str, m: Method, path: &str) -> RequestBuilder {
        let r = self.app.anon(m, path);
        match self.tokens.get(actor) {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// The newest event of namespace fraud, once the transparency log's
    /// tree holds it.
    async fn fraud_event_in_tree(&self) -> u64 {
        let r = self
            .app
            .req(Method::GET, "/v1/audit?namespace=fraud&limit=1");
        let page: Value = r.send().await.unwrap().json().await.unwrap();
        let seq = page["items"][0]["seq"].as_u64().unwrap();
        self.tree_holds(seq).await;
        seq
    }

    /// Waits until the transparency log's newest checkpoint holds `size` events.
    async fn tree_holds(&self, size: u64) {
        let held = crate::helpers::eventually(|| async {
            let r = self.app.req(Method::GET, "/v1/audit/log/checkpoint");
            let note = r.send().await.unwrap().text().await.unwrap();
            note.lines().nth(1).and_then(|n| n.parse::<u64>().ok()) >= Some(size)
        });
        assert!(held.await, "no checkpoint of {size} events");
    }

    /// A fresh draft of fraud/scorer with one file, for calls that consume it.
    async fn fresh_draft(&self) -> i64 {
        let r = self.app.create_version("fraud", "scorer", json!({})).await;
        let v = r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap();
        self.app
            .put_file("fraud", "scorer", v, "m.bin", b"w".to_vec(), None)
            .await;
        v
    }

    /// A resumable upload of one byte into a fresh draft; with `sent`, the
    /// byte `x` has arrived. Answers its path.
    async fn fresh_upload(&self, sent: bool) -> String {
        let v = self.fresh_draft().await;
        let r = self
            .app
            .req(
                Method::POST,
                &format!("/v1/models/fraud/scorer/versions/{v}/uploads"),
            )
            .json(&json!({ "path": "u.bin", "size": 1 }))
            .send()
            .await
            .unwrap();
        let url = r.headers()["location"].to_str().unwrap().to_owned();
        if sent {
            let r = self
                .app
                .req(Method::PATCH, &url)
                .header("upload-offset", 0)
                .body("x")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
        url
    }

    /// A fresh webhook of `fraud` (its target never resolves), made by the
    /// admin: its path.
    async fn fresh_webhook(&self) -> String {
        let r = self
            .app
            .req(Method::POST, "/v1/namespaces/fraud/webhooks")
            .json(&webhook_spec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        format!("/v1/namespaces/fraud/webhooks/{id}")
    }

    /// A fresh test delivery of a fresh webhook: its redelivery's path.
    async fn fresh_delivery(&self) -> String {
        let hook = self.fresh_webhook().await;
        let r = self
            .app
            .req(Method::POST, &format!("{hook}/test"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        format!("{hook}/deliveries/{id}/redeliver")
    }

    /// A fresh trusted key for `fraud`, registered by the admin.
    async fn fresh_key(&self) -> Signer {
        let k = Signer::generate();
        assert_eq!(
            k.register(&self.app, "spare", &["fraud"]).await.status(),
            StatusCode::CREATED
        );
        k
    }
}

fn matrix() -> Vec<(&'static str, &'static str, Rule, Build)> {
    vec![
        ("GET", "/v1/whoami", Rule::Anyone(200), |f, a| {
            Box::pin(async move { f.call(a, Method::GET, "/v1/whoami") })
        }),
        ("POST", "/v1/tokens", Rule::Anyone(201), |f, a| {
            Box::pin(async move {
                f.call(a, Method::POST, "/v1/tokens")
                    .json(&json!({"principal": a}))
            })
        }),
        ("GET", "/v1/tokens", Rule::Anyone(200), |f, a| {
            Box::pin(async move { f.call(a, Method::GET, "/v1/tokens") })
        }),
        ("DELETE", "/v1/tokens/{id}", Rule::Anyone(204), |f, a| {
            Box::pin(async move {
                // Each caller revokes a spare token of its own.
                let r = f
                    .app
                    .req(Method::POST, "/v1/tokens")
                    .json(&json!({"principal": a}))
                    .send()
                    .await
                    .unwrap();
                let id = r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                f.call(a, Method::DELETE, &format!("/v1/tokens/{id}"))
            })
        }),
        ("POST", "/v1/namespaces", Rule::Admin(201), |f, a| {
            Box::pin(async move {
                f.call(a, Method::POST, "/v1/namespaces")
                    .json(&json!({"name": format!("ns-{a}")}))
            })
        }),
        ("GET", "/v1/namespaces", Rule::Anyone(200), |f, a| {
            Box::pin(async move { f.call(a, Method::GET, "/v1/namespaces") })
        }),
        (
            "GET",
            "/v1/namespaces/{ns}",
            Rule::Roles(200, READERS),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/namespaces/fraud") }),
        ),
        (
            "GET",
            "/v1/namespaces/{ns}/members",
            Rule::Roles(200, READERS),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/namespaces/fraud/members") }),
        ),
        (
            "PUT",
            "/v1/namespaces/{ns}/members/{principal}",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::PUT,
                        &format!("/v1/namespaces/fraud/members/new-{a}"),
                    )
                    .json(&json!({"roles": ["reader"]}))
                })
            },
        ),
        (
            "DELETE",
            "/v1/namespaces/{ns}/members/{principal}",
            Rule::Roles(204, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    f.app
                        .req(
                            Method::PUT,
                            &format!("/v1/namespaces/fraud/members/gone-{a}"),
                        )
                        .json(&json!({"roles": ["reader"]}))
                        .send()
                        .await
                        .unwrap();
                    f.call(
                        a,
                        Method::DELETE,
                        &format!("/v1/namespaces/fraud/members/gone-{a}"),
                    )
                })
            },
        ),
        (
            "POST",
            "/v1/models",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::POST, "/v1/models")
                        .json(&json!({"namespace": "fraud", "name": format!("m-{a}")}))
                })
            },
        ),
        ("GET", "/v1/models", Rule::Anyone(200), |f, a| {
            Box::pin(async move { f.call(a, Method::GET, "/v1/models") })
        }),
        (
            "GET",
            "/v1/models/{ns}/{model}",
            Rule::Roles(200, READERS),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/models/fraud/scorer") }),
        ),
        (
            "POST",
            "/v1/models/{ns}/{model}/versions",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::POST, "/v1/models/fraud/scorer/versions")
                        .json(&json!({}))
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move { f.call(a, Method::GET, "/v1/models/fraud/scorer/versions") })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(
                    async move { f.call(a, Method::GET, "/v1/models/fraud/scorer/versions/1") },
                )
            },
        ),
        (
            "POST",
            "/v1/models/{ns}/{model}/versions/{v}/seal",
            Rule::Roles(200, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let v = f.fresh_draft().await;
                    f.call(
                        a,
                        Method::POST,
                        &format!("/v1/models/fraud/scorer/versions/{v}/seal"),
                    )
                })
            },
        ),
        (
            "PUT",
            "/v1/models/{ns}/{model}/versions/{v}/files/{path}",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let v = f.fresh_draft().await;
                    f.call(
                        a,
                        Method::PUT,
                        &format!("/v1/models/fraud/scorer/versions/{v}/files/new.bin"),
                    )
                    .body("x")
                })
            },
        ),
        (
            "DELETE",
            "/v1/models/{ns}/{model}/versions/{v}/files/{path}",
            Rule::Roles(204, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let v = f.fresh_draft().await;
                    f.call(
                        a,
                        Method::DELETE,
                        &format!("/v1/models/fraud/scorer/versions/{v}/files/m.bin"),
                    )
                })
            },
        ),
        (
            "POST",
            "/v1/models/{ns}/{model}/versions/{v}/uploads",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let v = f.fresh_draft().await;
                    f.call(
                        a,
                        Method::POST,
                        &format!("/v1/models/fraud/scorer/versions/{v}/uploads"),
                    )
                    .json(&json!({ "path": "u.bin", "size": 1 }))
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}",
            Rule::Roles(200, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let url = f.fresh_upload(false).await;
                    f.call(a, Method::GET, &url)
                })
            },
        ),
        (
            "PATCH",
            "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}",
            Rule::Roles(200, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let url = f.fresh_upload(false).await;
                    f.call(a, Method::PATCH, &url)
                        .header("upload-offset", 0)
                        .body("x")
                })
            },
        ),
        (
            "DELETE",
            "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}",
            Rule::Roles(204, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let url = f.fresh_upload(false).await;
                    f.call(a, Method::DELETE, &url)
                })
            },
        ),
        (
            "POST",
            "/v1/models/{ns}/{model}/versions/{v}/uploads/{id}/complete",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let url = f.fresh_upload(true).await;
                    f.call(a, Method::POST, &format!("{url}/complete"))
                        .json(&json!({ "sha256": crate::helpers::sha256_hex(b"x") }))
                })
            },
        ),
        // Version 1 is sealed but unsigned: only roles that may pull unverified
        // versions get it; approvers and deployers get 403 version_not_verified.
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/files/{path}",
            Rule::Roles(200, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        "/v1/models/fraud/scorer/versions/1/files/m.bin",
                    )
                })
            },
        ),
        (
            "POST",
            "/v1/models/{ns}/{model}/versions/{v}/signatures",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let (v, st) = f
                        .app
                        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", a.as_bytes())])
                        .await;
                    f.call(
                        a,
                        Method::POST,
                        &format!("/v1/models/fraud/scorer/versions/{v}/signatures"),
                    )
                    .json(&f.signer.envelope(&st))
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/signatures",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        "/v1/models/fraud/scorer/versions/2/signatures",
                    )
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/signatures/{keyid}/bundle",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        &format!(
                            "/v1/models/fraud/scorer/versions/2/signatures/{}/bundle",
                            f.signer.keyid
                        ),
                    )
                })
            },
        ),
        (
            "POST",
            "/v1/models/{ns}/{model}/versions/{v}/attestations",
            Rule::Roles(201, PUBLISHERS),
            |f, a| {
                Box::pin(async move {
                    let (v, st) = f
                        .app
                        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", a.as_bytes())])
                        .await;
                    let doc = attestation(&st, EVALUATION, json!({"accuracy": 0.9}));
                    f.call(
                        a,
                        Method::POST,
                        &format!("/v1/models/fraud/scorer/versions/{v}/attestations"),
                    )
                    .json(&f.signer.envelope(&doc))
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/attestations",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        "/v1/models/fraud/scorer/versions/2/attestations",
                    )
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    let path = format!(
                        "/v1/models/fraud/scorer/versions/2/attestations/{}",
                        f.attestation
                    );
                    f.call(a, Method::GET, &path)
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/attestations/{id}/bundle",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    let path = format!(
                        "/v1/models/fraud/scorer/versions/2/attestations/{}/bundle",
                        f.attestation
                    );
                    f.call(a, Method::GET, &path)
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/bom",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(
                    async move { f.call(a, Method::GET, "/v1/models/fraud/scorer/versions/2/bom") },
                )
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/provenance",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        "/v1/models/fraud/scorer/versions/2/provenance",
                    )
                })
            },
        ),
        ("GET", "/v1/registry/key", Rule::Anyone(200), |f, a| {
            Box::pin(async move { f.call(a, Method::GET, "/v1/registry/key") })
        }),
        (
            "PUT",
            "/v1/models/{ns}/{model}/aliases/{alias}",
            Rule::Roles(200, PROMOTERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::PUT,
                        &format!("/v1/models/fraud/scorer/aliases/a-{a}"),
                    )
                    .json(&json!({"version": 2}))
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/aliases/{alias}",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::GET, "/v1/models/fraud/scorer/aliases/staging")
                })
            },
        ),
        (
            "DELETE",
            "/v1/models/{ns}/{model}/aliases/{alias}",
            Rule::Roles(204, PROMOTERS),
            |f, a| {
                Box::pin(async move {
                    assert_eq!(
                        f.app
                            .promote("fraud", "scorer", &format!("d-{a}"), 2)
                            .await
                            .status(),
                        StatusCode::OK
                    );
                    f.call(
                        a,
                        Method::DELETE,
                        &format!("/v1/models/fraud/scorer/aliases/d-{a}"),
                    )
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/gate",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::GET, "/v1/models/fraud/scorer/versions/2/gate")
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/aliases/{alias}/history",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        "/v1/models/fraud/scorer/aliases/staging/history",
                    )
                })
            },
        ),
        ("POST", "/v1/keys", Rule::Roles(201, MANAGERS), |f, a| {
            Box::pin(async move {
                let k = Signer::generate();
                f.call(a, Method::POST, "/v1/keys")
                    .json(&json!({"name": a, "public_key": k.pem, "namespaces": ["fraud"]}))
            })
        }),
        ("GET", "/v1/keys", Rule::Anyone(200), |f, a| {
            Box::pin(async move { f.call(a, Method::GET, "/v1/keys") })
        }),
        (
            "GET",
            "/v1/keys/{keyid}",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(
                    async move { f.call(a, Method::GET, &format!("/v1/keys/{}", f.signer.keyid)) },
                )
            },
        ),
        (
            "POST",
            "/v1/keys/{keyid}/revoke",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let k = f.fresh_key().await;
                    f.call(a, Method::POST, &format!("/v1/keys/{}/revoke", k.keyid))
                        .json(&json!({"reason": "retired"}))
                })
            },
        ),
        (
            "GET",
            "/v1/namespaces/{ns}/trusted-publishers",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::GET, "/v1/namespaces/fraud/trusted-publishers")
                })
            },
        ),
        (
            "PUT",
            "/v1/namespaces/{ns}/trusted-publishers/{name}",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::PUT,
                        &format!("/v1/namespaces/fraud/trusted-publishers/p-{a}"),
                    )
                    .json(&publisher_spec())
                })
            },
        ),
        (
            "DELETE",
            "/v1/namespaces/{ns}/trusted-publishers/{name}",
            Rule::Roles(204, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let path = format!("/v1/namespaces/fraud/trusted-publishers/gone-{a}");
                    f.app
                        .req(Method::PUT, &path)
                        .json(&publisher_spec())
                        .send()
                        .await
                        .unwrap();
                    f.call(a, Method::DELETE, &path)
                })
            },
        ),
        (
            "POST",
            "/v1/namespaces/{ns}/webhooks",
            Rule::Roles(201, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::POST, "/v1/namespaces/fraud/webhooks")
                        .json(&webhook_spec())
                })
            },
        ),
        (
            "GET",
            "/v1/namespaces/{ns}/webhooks",
            Rule::Roles(200, MANAGERS),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/namespaces/fraud/webhooks") }),
        ),
        (
            "GET",
            "/v1/namespaces/{ns}/webhooks/{id}",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let hook = f.fresh_webhook().await;
                    f.call(a, Method::GET, &hook)
                })
            },
        ),
        (
            "PATCH",
            "/v1/namespaces/{ns}/webhooks/{id}",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let hook = f.fresh_webhook().await;
                    f.call(a, Method::PATCH, &hook)
                        .json(&json!({"description": "changed"}))
                })
            },
        ),
        (
            "DELETE",
            "/v1/namespaces/{ns}/webhooks/{id}",
            Rule::Roles(204, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let hook = f.fresh_webhook().await;
                    f.call(a, Method::DELETE, &hook)
                })
            },
        ),
        (
            "POST",
            "/v1/namespaces/{ns}/webhooks/{id}/test",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let hook = f.fresh_webhook().await;
                    f.call(a, Method::POST, &format!("{hook}/test"))
                })
            },
        ),
        (
            "GET",
            "/v1/namespaces/{ns}/webhooks/{id}/deliveries",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let hook = f.fresh_webhook().await;
                    f.call(a, Method::GET, &format!("{hook}/deliveries"))
                })
            },
        ),
        (
            "POST",
            "/v1/namespaces/{ns}/webhooks/{id}/deliveries/{delivery}/redeliver",
            Rule::Roles(202, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let path = f.fresh_delivery().await;
                    f.call(a, Method::POST, &path)
                })
            },
        ),
        ("POST", "/v1/oidc/token", Rule::Open(401), |f, a| {
            Box::pin(async move {
                // An identity token of an issuer the registry does not accept:
                // whatever else the caller sends, the identity token decides.
                let b64 = |v: Value| {
                    use base64::Engine;
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
                };
                let jwt = format!(
                    "{}.{}.c2ln",
                    b64(json!({"alg": "RS256", "kid": "k"})),
                    b64(json!({"iss": "https://elsewhere.example", "aud": "signet"}))
                );
                f.call(a, Method::POST, "/v1/oidc/token")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(
                        serde_urlencoded::to_string([
                            (
                                "grant_type",
                                "urn:ietf:params:oauth:grant-type:token-exchange",
                            ),
                            ("subject_token", jwt.as_str()),
                            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                        ])
                        .unwrap(),
                    )
            })
        }),
        (
            "GET",
            "/v1/namespaces/{ns}/policy",
            Rule::Roles(200, READERS),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/namespaces/fraud/policy") }),
        ),
        (
            "PUT",
            "/v1/namespaces/{ns}/policy",
            Rule::Roles(200, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::PUT, "/v1/namespaces/fraud/policy")
                        .json(&json!({}))
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/statement",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        "/v1/models/fraud/scorer/versions/2/statement",
                    )
                })
            },
        ),
        (
            "GET",
            "/v1/lineage/datasets/{sha256}",
            Rule::Anyone(200),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        &format!("/v1/lineage/datasets/{}", "ab".repeat(32)),
                    )
                })
            },
        ),
        (
            "GET",
            "/v1/lineage/commits/{commit}",
            Rule::Anyone(200),
            |f, a| {
                Box::pin(async move {
                    f.call(
                        a,
                        Method::GET,
                        &format!("/v1/lineage/commits/{}", "ab".repeat(20)),
                    )
                })
            },
        ),
        (
            "GET",
            "/v1/models/{ns}/{model}/versions/{v}/lineage",
            Rule::Roles(200, READERS),
            |f, a| {
                Box::pin(async move {
                    f.call(a, Method::GET, "/v1/models/fraud/scorer/versions/2/lineage")
                })
            },
        ),
        (
            "POST",
            "/v1/quarantines",
            Rule::Roles(201, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let v = f.fresh_draft().await;
                    f.call(a, Method::POST, "/v1/quarantines").json(&json!({"kind": "version", "value": format!("fraud/scorer@{v}"), "reason": "test"}))
                })
            },
        ),
        (
            "GET",
            "/v1/quarantines",
            Rule::Public(200, MANAGERS),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/quarantines") }),
        ),
        (
            "DELETE",
            "/v1/quarantines/{id}",
            Rule::Roles(204, MANAGERS),
            |f, a| {
                Box::pin(async move {
                    let v = f.fresh_draft().await;
                    let r = f.app.req(Method::POST, "/v1/quarantines")
                .json(&json!({"kind": "version", "value": format!("fraud/scorer@{v}"), "reason": "test"})).send().await.unwrap();
                    let id = r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    f.call(a, Method::DELETE, &format!("/v1/quarantines/{id}"))
                })
            },
        ),
        (
            "GET",
            "/v1/audit",
            Rule::Roles(200, &["maintainer", "auditor"]),
            |f, a| {
                Box::pin(async move { f.call(a, Method::GET, "/v1/audit?namespace=fraud&limit=5") })
            },
        ),
        (
            "GET",
            "/v1/audit/export",
            Rule::Roles(200, &["maintainer", "auditor"]),
            |f, a| {
                Box::pin(async move { f.call(a, Method::GET, "/v1/audit/export?namespace=fraud") })
            },
        ),
        (
            "GET",
            "/v1/audit/verify",
            Rule::Roles(200, &["maintainer", "auditor"]),
            |f, a| {
                Box::pin(async move { f.call(a, Method::GET, "/v1/audit/verify?namespace=fraud") })
            },
        ),
        (
            "GET",
            "/v1/audit/log/checkpoint",
            Rule::Public(200, &["maintainer", "auditor"]),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/audit/log/checkpoint") }),
        ),
        (
            "GET",
            "/v1/audit/log/key",
            Rule::Public(200, &["maintainer", "auditor"]),
            |f, a| Box::pin(async move { f.call(a, Method::GET, "/v1/audit/log/key") }),
        ),
        (
            "GET",
            "/v1/audit/log/consistency",
            Rule::Public(200, &["maintainer", "auditor"]),
            |f, a| {
                Box::pin(
                    async move { f.call(a, Method::GET, "/v1/audit/log/consistency?from=0&to=0") },
                )
            },
        ),
        (
            "GET",
            "/v1/audit/log/tile/{path}",
            Rule::Public(200, &["maintainer", "auditor"]),
            |f, a| {
                Box::pin(async move {
                    f.tree_holds(1).await;
                    f.call(a, Method::GET, "/v1/audit/log/tile/0/000.p/1")
                })
            },
        ),
        (
            "GET",
            "/v1/audit/log/tile/entries/{path}",
            Rule::Admin(200),
            |f, a| {
                Box::pin(async move {
                    f.tree_holds(1).await;
                    f.call(a, Method::GET, "/v1/audit/log/tile/entries/000.p/1")
                })
            },
        ),
        (
            "GET",
            "/v1/audit/events/{seq}/proof",
            Rule::Roles(200, &["maintainer", "auditor"]),
            |f, a| {
                Box::pin(async move {
                    let seq = f.fraud_event_in_tree().await;
                    let path = format!("/v1/audit/events/{seq}/proof?namespace=fraud");
                    f.call(a, Method::GET, &path)
                })
            },
        ),
    ]
}

/// A webhook whose target never resolves (`.invalid`): its deliveries fail.
fn webhook_spec() -> Value {
    json!({"url": "https://hooks.invalid/signet", "event_types": ["dev.signet.alias.moved"]})
}

/// A trusted publisher of the issuer the matrix's registry accepts.
fn publisher_spec() -> Value {
    json!({
        "issuer": MATRIX_ISSUER,
        "claims": {"repository": "acme/train", "repository_owner_id": "1"},
        "roles": ["publisher"],
    })
}

/// The identity provider the matrix's registry accepts (never reached: no
/// row exchanges one of its tokens).
const MATRIX_ISSUER: &str = "https://issuer.example";

async fn fixture(b: Backend) -> Fixture {
    let app = TestApp::spawn_with(b, |cfg| {
        cfg.oidc.issuers = signet::config::OidcIssuers(vec![MATRIX_ISSUER.into()]);
    })
    .await;
    assert_eq!(
        app.create_namespace("fraud").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_namespace("search").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("fraud", "scorer").await.status(),
        StatusCode::CREATED
    );
    app.create_version("fraud", "scorer", json!({})).await;
    app.put_file("fraud", "scorer", 1, "m.bin", b"weights".to_vec(), None)
        .await;
    assert_eq!(
        app.seal("fraud", "scorer", 1).await.status(),
        StatusCode::OK
    );
    // Version 2: sealed, signed, and pointed at by `staging`.
    let signer = Signer::generate();
    assert_eq!(
        signer.register(&app, "ci", &["fraud"]).await.status(),
        StatusCode::CREATED
    );
    let (v2, st) = app
        .sealed_version("fraud", "scorer", json!({}), &[("m.bin", b"v2")])
        .await;
    assert_eq!(v2, 2);
    assert_eq!(
        app.sign("fraud", "scorer", 2, &signer.envelope(&st))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.promote("fraud", "scorer", "staging", 2).await.status(),
        StatusCode::OK
    );
    let doc = attestation(&st, EVALUATION, json!({"accuracy": 0.95}));
    let r = app
        .attest("fraud", "scorer", 2, &signer.envelope(&doc))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let attestation = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut tokens = std::collections::HashMap::new();
    tokens.insert("admin", app.admin.clone());
    let bind = |who: &'static str, ns: &'static str, role: &'static str| {
        app.req(Method::PUT, &format!("/v1/namespaces/{ns}/members/{who}"))
            .json(&json!({"roles": [role]}))
            .send()
    };
    for role in NS_ROLES {
        assert_eq!(
            bind(role, "fraud", role).await.unwrap().status(),
            StatusCode::OK
        );
    }
    bind("other-namespace", "search", "publisher")
        .await
        .unwrap();
    bind("expired-token", "fraud", "publisher").await.unwrap();
    bind("revoked-token", "fraud", "publisher").await.unwrap();
    for actor in [
        &NS_ROLES[..],
        &["no-role", "other-namespace", "revoked-token"],
    ]
    .concat()
    {
        tokens.insert(actor, app.mint(actor).await);
    }
    let revoked = tokens["revoked-token"].clone();
    let id = app.whoami(&revoked).await["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .req(Method::DELETE, &format!("/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    tokens.insert("expired-token", expired_token(&app, "expired-token").await);
    Fixture {
        app,
        tokens,
        signer,
        attestation,
    }
}

/// A token whose expiry has passed. The API cannot mint one, so it is written
/// through the store, as a token minted long ago would be.
async fn expired_token(app: &TestApp, principal: &str) -> String {
    let secret = Secret::generate();
    let now = Utc::now();
    let t = TokenRecord {
        id: Uuid::now_v7(),
        principal: PrincipalName::parse(principal).unwrap(),
        description: String::new(),
        created_at: now - chrono::Duration::days(91),
        expires_at: Some(now - chrono::Duration::days(1)),
        revoked_at: None,
        last_used_at: None,
        parent_id: None,
        revoked_with: None,
        console: false,
    };
    app.store
        .create_token(&t, &secret.hash(), &Pending::system())
        .await
        .unwrap();
    secret.expose().to_owned()
}

/// The matrix as a Markdown table, as published in `docs/access.md`.
fn render(rows: &[(&str, &str, Rule, Build)]) -> String {
    let mut out = String::from("| route | ");
    out += &ACTORS.join(" | ");
    out += " |\n|---|";
    out += &"---|".repeat(ACTORS.len());
    out += "\n";
    for (m, p, rule, _) in rows {
        out += &format!("| `{m} {p}` |");
        for a in ACTORS {
            out += &format!(" {} |", rule.expect(a));
        }
        out += "\n";
    }
    out
}

#[test]
fn the_published_matrix_is_the_tested_one() {
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/access.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/access.md exists");
    let begin = "<!-- matrix:begin -->\n";
    let end = "<!-- matrix:end -->";
    let (head, rest) = doc.split_once(begin).expect("matrix markers");
    let (_, tail) = rest.split_once(end).expect("matrix markers");
    let fresh = format!("{head}{begin}{}{end}{tail}", render(&matrix()));
    if std::env::var_os("SIGNET_UPDATE_DOCS").is_some() {
        std::fs::write(doc_path, &fresh).unwrap();
        return;
    }
    assert!(
        doc == fresh,
        "docs/access.md is stale: run SIGNET_UPDATE_DOCS=1 cargo test published_matrix"
    );
}

async fn every_route_answers_each_kind_of_caller_as_the_matrix_says(b: Backend) {
    // Every authenticated route of the router must have a row, and every row a route.
    let api: Value = signet::http::openapi();
    let mut routes = BTreeSet::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if path.starts_with("/v1/") {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let rows = matrix();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        routes, covered,
        "the matrix must list exactly the router's /v1 routes"
    );

    let f = fixture(b).await;
    let mut failures = Vec::new();
    for (m, p, rule, build) in &rows {
        for actor in ACTORS {
            let rid = format!("matrix-{}", uuid::Uuid::new_v4().simple());
            let r = build(&f, actor)
                .await
                .header("x-request-id", &rid)
                .send()
                .await
                .unwrap();
            let got = r.status().as_u16();
            // Every request, allowed or not, leaves exactly one event.
            let events: Value = f
                .app
                .req(Method::GET, &format!("/v1/audit?request_id={rid}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let events = events["items"].as_array().unwrap();
            if events.len() != 1 || events[0]["status"] != got {
                failures.push(format!(
                    "{m} {p} as {actor}: audit events {events:?} for status {got}"
                ));
            }
            let want = rule.expect(actor);
            if got != want {
                failures.push(format!("{m} {p} as {actor}: got {got}, want {want}"));
            } else if got == 403
                && *m == "GET"
                && *p == "/v1/models/{ns}/{model}/versions/{v}/files/{path}"
            {
                let code = error_code(r).await;
                let want_code = if ["approver", "deployer"].contains(&actor) {
                    "version_not_verified"
                } else {
                    "forbidden"
                };
                if code != want_code {
                    failures.push(format!("{m} {p} as {actor}: code {code}, want {want_code}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn a_removed_role_stops_working_on_the_very_next_request(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    app.req(Method::PUT, "/v1/namespaces/fraud/members/ci")
        .json(&json!({"roles": ["publisher"]}))
        .send()
        .await
        .unwrap();
    let ci = app.mint("ci").await;
    let create = || {
        app.anon(Method::POST, &format!("/v1/models/{ns}/{model}/versions"))
            .bearer_auth(&ci)
            .json(&json!({}))
            .send()
    };
    assert_eq!(create().await.unwrap().status(), StatusCode::CREATED);

    // Narrowed to reader: the next call is refused, with the namespace still visible.
    app.req(Method::PUT, "/v1/namespaces/fraud/members/ci")
        .json(&json!({"roles": ["reader"]}))
        .send()
        .await
        .unwrap();
    let r = create().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Removed: the namespace disappears for it.
    let r = app
        .req(Method::DELETE, "/v1/namespaces/fraud/members/ci")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(create().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = app
        .anon(Method::GET, "/v1/models/fraud/scorer")
        .bearer_auth(&ci)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let versions: Value = app
        .req(Method::GET, "/v1/models/fraud/scorer/versions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions["items"].as_array().unwrap().len(),
        1,
        "only the permitted call created a version"
    );
}

async fn tokens_are_shown_once_listed_without_secrets_and_revocable(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.given_model().await;
    app.req(Method::PUT, "/v1/namespaces/fraud/members/alice")
        .json(&json!({"roles": ["reader"]}))
        .send()
        .await
        .unwrap();
    let alice = app.mint("alice").await;
    assert!(alice.starts_with("sgn_"));

    // Alice mints her own; not someone else's.
    let r = app
        .anon(Method::POST, "/v1/tokens")
        .bearer_auth(&alice)
        .json(&json!({"principal": "alice", "description": "laptop", "expires_in_days": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let laptop: Value = r.json().await.unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(laptop["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&Utc) - Utc::now()).num_hours();
    assert!((6 * 24..=7 * 24).contains(&days), "expires in 7 days");
    let r = app
        .anon(Method::POST, "/v1/tokens")
        .bearer_auth(&alice)
        .json(&json!({"principal": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .anon(Method::POST, "/v1/tokens")
        .bearer_auth(&alice)
        .json(&json!({"principal": "alice", "expires_in_days": 366}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "longer than the configured maximum"
    );

    // Her list holds her two tokens, no secrets; the admin's list holds all three.
    let mine = app
        .anon(Method::GET, "/v1/tokens")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!mine.contains("sgn_"), "no secret in a listing");
    let mine: Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["principal"] == "alice")
    );
    assert!(
        mine["items"][0]["last_used_at"].is_string(),
        "the used token records its use"
    );
    let all: Value = app
        .req(Method::GET, "/v1/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    // Someone else's token looks missing; her own revokes and stops at once.
    let admin_id = app.whoami(&app.admin).await["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .anon(Method::DELETE, &format!("/v1/tokens/{admin_id}"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let laptop_token = laptop["token"].as_str().unwrap();
    assert_eq!(
        app.anon(Method::GET, "/v1/whoami")
            .bearer_auth(laptop_token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = app
        .anon(
            Method::DELETE,
            &format!("/v1/tokens/{}", laptop["id"].as_str().unwrap()),
        )
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.anon(Method::GET, "/v1/whoami")
            .bearer_auth(laptop_token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.anon(Method::GET, "/v1/whoami")
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

async fn expired_and_revoked_tokens_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let expired = expired_token(&app, "admin").await;
    let r = app
        .anon(Method::GET, "/v1/whoami")
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "unauthenticated");
    // The admin's own token, revoked, locks the admin out immediately.
    let spare = app.mint("admin").await;
    let id = app.whoami(&app.admin).await["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .anon(Method::DELETE, &format!("/v1/tokens/{id}"))
        .bearer_auth(&spare)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::GET, "/v1/whoami").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn bodies_that_set_server_owned_fields_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let cases = [
        (
            "/v1/namespaces",
            json!({"name": "x1", "created_by": "mallory"}),
        ),
        (
            "/v1/models",
            json!({"namespace": ns, "name": "x2", "created_by": "mallory"}),
        ),
        (
            "/v1/models",
            json!({"namespace": ns, "name": "x3", "latest_version": 9}),
        ),
        (
            &format!("/v1/models/{ns}/{model}/versions") as &str,
            json!({"state": "sealed"}),
        ),
        (
            &format!("/v1/models/{ns}/{model}/versions"),
            json!({"verified": true}),
        ),
        (
            &format!("/v1/models/{ns}/{model}/versions"),
            json!({"version": 7}),
        ),
        (
            "/v1/tokens",
            json!({"principal": "admin", "roles": ["admin"]}),
        ),
        (
            "/v1/tokens",
            json!({"principal": "admin", "token": "sgn_chosen-by-the-client-000000000000"}),
        ),
    ];
    for (path, body) in cases {
        let r = app
            .req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        assert_eq!(error_code(r).await, "invalid_request");
    }
    let r = app
        .req(Method::PUT, "/v1/namespaces/fraud/members/bob")
        .json(&json!({"roles": ["reader"], "namespace": "*"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let versions: Value = app
        .req(Method::GET, &format!("/v1/models/{ns}/{model}/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["items"], json!([]));
    let members: Value = app
        .req(Method::GET, "/v1/namespaces/fraud/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members["items"], json!([]));
}

async fn namespaces_and_models_are_listed_only_where_the_caller_has_a_role(b: Backend) {
    let app = TestApp::spawn(b).await;
    for ns in ["fraud", "search"] {
        app.create_namespace(ns).await;
        app.create_model(ns, "m").await;
    }
    app.req(Method::PUT, "/v1/namespaces/search/members/bob")
        .json(&json!({"roles": ["reader"]}))
        .send()
        .await
        .unwrap();
    let bob = app.mint("bob").await;
    let names = |v: Value, key: &str| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].as_str().unwrap().to_owned())
            .collect()
    };
    let ns: Value = app
        .anon(Method::GET, "/v1/namespaces")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(ns, "name"), ["search"]);
    let models: Value = app
        .anon(Method::GET, "/v1/models")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(models, "namespace"), ["search"]);
    let r = app
        .anon(Method::GET, "/v1/models?namespace=fraud")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "same answer as a namespace that does not exist"
    );
    let r = app
        .anon(Method::GET, "/v1/models?namespace=nowhere")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A global auditor sees everything and changes nothing.
    let r = app
        .req(Method::PUT, "/v1/namespaces/*/members/eve")
        .json(&json!({"roles": ["auditor"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let eve = app.mint("eve").await;
    let ns: Value = app
        .anon(Method::GET, "/v1/namespaces")
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(ns, "name"), ["fraud", "search"]);
    let r = app
        .anon(Method::POST, "/v1/models/fraud/m/versions")
        .bearer_auth(&eve)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn roles_are_validated_for_where_they_are_bound(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.create_namespace("fraud").await;
    let put = |ns: &str, roles: Value| {
        app.req(Method::PUT, &format!("/v1/namespaces/{ns}/members/carol"))
            .json(&json!({"roles": roles}))
            .send()
    };
    // A known role where it cannot be bound is unprocessable; an unknown one is
    // malformed.
    let r = put("fraud", json!(["admin"])).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "role_not_allowed");
    assert_eq!(
        put("fraud", json!(["superuser"])).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("*", json!(["publisher"])).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put("nowhere", json!(["reader"])).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let r = put("fraud", json!(["reader", "publisher", "reader"]))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["roles"],
        json!(["publisher", "reader"])
    );
    // A maintainer manages its own namespace, not the global roles.
    put("fraud", json!(["maintainer"])).await.unwrap();
    let carol = app.mint("carol").await;
    let r = app
        .anon(Method::PUT, "/v1/namespaces/fraud/members/dave")
        .bearer_auth(&carol)
        .json(&json!({"roles": ["publisher"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .anon(Method::PUT, "/v1/namespaces/*/members/carol")
        .bearer_auth(&carol)
        .json(&json!({"roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "no self-promotion to admin"
    );
    let who = app.whoami(&carol).await;
    assert_eq!(
        who["roles"],
        json!([{"namespace": "fraud", "role": "maintainer"}])
    );
}

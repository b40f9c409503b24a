//! The web console (`/ui`) over real HTTP: sign-in and sessions, what each
//! viewer may see, escaping of user-controlled values, the security headers,
//! the gate panel and the lineage graph, and the audit of every page view.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Signer, TestApp, full_lineage};

crate::on_both_backends!(
    sign_in_exchanges_a_token_for_a_session_that_sign_out_ends,
    a_session_is_no_api_token_and_an_api_token_no_session,
    revoking_the_token_signed_in_with_ends_its_sessions,
    sign_in_refuses_bad_tokens_tokens_in_urls_and_other_sites,
    a_reader_of_one_namespace_sees_nothing_of_another,
    user_controlled_values_render_inert,
    the_version_page_shows_the_gate_signatures_and_files,
    the_lineage_graph_marks_what_a_quarantine_taints,
    every_page_view_is_an_audit_event,
    unknown_pages_and_bad_paths_get_an_html_error_page,
    search_finds_models_versions_aliases_datasets_and_commits,
    the_root_leads_to_the_console,
);

/// `GET /` is where a browser pointed at the registry lands: the console.
async fn the_root_leads_to_the_console(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = browser()
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui");
    // Only the root: other unknown paths stay unknown.
    let r = browser()
        .get(format!("{}/nothing-here", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// A form body, as a browser sends it.
trait FormBody {
    fn form_of(self, fields: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_of(self, fields: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
    }
}

/// A browser-like client: keeps no cookies, follows no redirects, sends the
/// headers a browser sends with a same-origin form.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `token`; answers the session cookie's value and its
/// `Set-Cookie` header.
pub(crate) async fn sign_in(app: &TestApp, token: &str) -> (String, String) {
    let r = browser()
        .post(format!("{}/ui/login", app.base))
        .header("sec-fetch-site", "same-origin")
        .form_of(&[("token", token), ("next", "/ui")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = set
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("signet_session=")
        .unwrap()
        .to_owned();
    (value, set)
}

pub(crate) async fn page(
    app: &TestApp,
    session: &str,
    path: &str,
) -> (StatusCode, HeaderMap, String) {
    let r = browser()
        .get(format!("{}{path}", app.base))
        .header("cookie", format!("signet_session={session}"))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

async fn sign_out(app: &TestApp, session: &str) -> reqwest::Response {
    browser()
        .post(format!("{}/ui/logout", app.base))
        .header("cookie", format!("signet_session={session}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap()
}

async fn sign_in_exchanges_a_token_for_a_session_that_sign_out_ends(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, _) = app.given_model().await;
    // Before sign-in every page is the sign-in form, which returns to the page.
    let (status, _, body) = page(&app, "", &format!("/ui/namespaces/{ns}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains(r#"action="/ui/login""#), "{body}");
    assert!(body.contains(&format!(r#"value="/ui/namespaces/{ns}""#)));

    let (session, set_cookie) = sign_in(&app, &app.admin).await;
    assert_ne!(session, app.admin, "the session is not the token pasted");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on loopback: not Secure"
    );
    let (status, _, body) = page(&app, &session, "/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Signed in as"), "{body}");
    assert!(body.contains(&format!(r#"href="/ui/namespaces/{ns}""#)));
    // The session lasts no longer than configured (8 hours by default).
    let max_age: i64 = set_cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((8 * 3600 - 60..=8 * 3600).contains(&max_age), "{max_age}");

    let r = sign_out(&app, &session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, _) = page(&app, &session, "/ui").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out: revoked");
    // The token signed in with goes on working.
    let r = app.req(Method::GET, "/v1/whoami").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn a_session_is_no_api_token_and_an_api_token_no_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (session, _) = sign_in(&app, &app.admin).await;
    let r = app
        .anon(Method::GET, "/v1/whoami")
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a cookie is no bearer"
    );
    let (status, _, _) = page(&app, &app.admin, "/ui").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token is no session");
    // A session cannot sign in again to get another.
    let r = browser()
        .post(format!("{}/ui/login", app.base))
        .form_of(&[("token", session.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    // The session shows among the principal's tokens, so it can be revoked there.
    let tokens: Value = app
        .req(Method::GET, "/v1/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["description"] == "console session"),
        "{tokens}"
    );
}

async fn revoking_the_token_signed_in_with_ends_its_sessions(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, _) = app.given_model().await;
    let reader = app.member_token("rita", &ns, "reader").await;
    let (session, _) = sign_in(&app, &reader).await;
    assert_eq!(page(&app, &session, "/ui").await.0, StatusCode::OK);
    let me: Value = app
        .anon(Method::GET, "/v1/whoami")
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = me["token_id"].as_str().unwrap();
    let r = app
        .req(Method::DELETE, &format!("/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        page(&app, &session, "/ui").await.0,
        StatusCode::UNAUTHORIZED,
        "the next page after the revocation"
    );
}

async fn sign_in_refuses_bad_tokens_tokens_in_urls_and_other_sites(b: Backend) {
    let app = TestApp::spawn(b).await;
    for bad in [
        "",
        "nonsense",
        "sgn_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let r = browser()
            .post(format!("{}/ui/login", app.base))
            .form_of(&[("token", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(r.headers().get("set-cookie").is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("was not accepted"), "{body}");
        assert!(
            !body.contains(bad) || bad.is_empty() || bad == "nonsense",
            "a pasted secret is not echoed back"
        );
    }
    // No token in a URL: the sign-in page takes none.
    let r = browser()
        .get(format!("{}/ui/login?token={}", app.base, app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!r.text().await.unwrap().contains(&app.admin));
    // A form posted from another site is refused, however it says so.
    let cross: [&[(&str, &str)]; 3] = [
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "https://evil.example")],
    ];
    for headers in cross {
        let mut req = browser()
            .post(format!("{}/ui/login", app.base))
            .form_of(&[("token", app.admin.as_str())]);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(r.headers().get("set-cookie").is_none());
    }
    // Sign-out from another site does not end the session.
    let (session, _) = sign_in(&app, &app.admin).await;
    let r = browser()
        .post(format!("{}/ui/logout", app.base))
        .header("cookie", format!("signet_session={session}"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(page(&app, &session, "/ui").await.0, StatusCode::OK);
    // After sign-in, only the console's own pages are returned to.
    for next in ["https://evil.example/", "//evil.example/ui", "/v1/whoami"] {
        let r = browser()
            .post(format!("{}/ui/login", app.base))
            .form_of(&[("token", app.admin.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/ui", "{next}");
    }
}

async fn a_reader_of_one_namespace_sees_nothing_of_another(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    assert_eq!(
        app.create_namespace("secret-lab").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.create_model("secret-lab", "hidden-model")
            .await
            .status(),
        StatusCode::CREATED
    );
    let mut lineage = full_lineage();
    lineage["data"][0]["sha256"] = json!("ef".repeat(32));
    let (hidden, _) = app
        .sealed_version("secret-lab", "hidden-model", lineage, &[("w.bin", b"x")])
        .await;
    let (v, _) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"w")])
        .await;
    let reader = app.member_token("rita", &ns, "reader").await;
    let (session, _) = sign_in(&app, &reader).await;

    let (status, _, body) = page(&app, &session, "/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&ns));
    assert!(!body.contains("secret-lab"), "{body}");
    let own = format!("/ui/models/{ns}/{model}/versions/{v}");
    assert_eq!(page(&app, &session, &own).await.0, StatusCode::OK);
    for path in [
        "/ui/namespaces/secret-lab".to_owned(),
        "/ui/models/secret-lab/hidden-model".to_owned(),
        format!("/ui/models/secret-lab/hidden-model/versions/{hidden}"),
        format!("/ui/models/secret-lab/hidden-model/versions/{hidden}/lineage"),
        "/ui/search?q=secret-lab/hidden-model".to_owned(),
        format!("/ui/search?q=secret-lab/hidden-model@{hidden}"),
    ] {
        let (status, _, body) = page(&app, &session, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("hidden-model"), "{path}: {body}");
    }
    // Searches that cross namespaces show only what the reader may read.
    for q in ["ef".repeat(32), "hidden-model".to_owned(), "ab".repeat(20)] {
        let (status, _, body) = page(&app, &session, &format!("/ui/search?q={q}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("secret-lab"), "{q}: {body}");
    }
    // The audit log and quarantines are not a reader's.
    assert_eq!(
        page(&app, &session, "/ui/audit").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        page(&app, &session, "/ui/quarantines").await.0,
        StatusCode::FORBIDDEN
    );
}

async fn user_controlled_values_render_inert(b: Backend) {
    let app = TestApp::spawn(b).await;
    let evil = r#"<script>alert(1)</script>"#;
    let attr = r#""><img src=x onerror=alert(2)>"#;
    let r = app
        .req(Method::POST, "/v1/namespaces")
        .json(&json!({"name": "fraud", "description": attr}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .req(Method::POST, "/v1/models")
        .json(&json!({"namespace": "fraud", "name": "scorer", "description": evil}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (ns, model) = ("fraud", "scorer");
    let mut lineage = full_lineage();
    lineage["data"][0]["name"] = json!(attr);
    lineage["code"]["repo"] = json!(evil);
    let r = app
        .create_version(
            ns,
            model,
            json!({"lineage": lineage, "metadata": {"note": evil, "k": attr}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = r.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let (session, _) = sign_in(&app, &app.admin).await;
    let (status, headers, body) = page(
        &app,
        &session,
        &format!("/ui/models/{ns}/{model}/versions/{v}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(body.contains("&lt;img src=x"), "{body}");
    for path in [
        "/ui".to_owned(),
        format!("/ui/namespaces/{ns}"),
        format!("/ui/models/{ns}/{model}"),
        format!("/ui/models/{ns}/{model}/versions/{v}"),
        format!("/ui/models/{ns}/{model}/versions/{v}/lineage"),
    ] {
        let (status, _, body) = page(&app, &session, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.contains("<script"), "{path}: {body}");
        assert!(!body.contains("<img"), "{path}: {body}");
    }
    let (_, _, body) = page(&app, &session, &format!("/ui/namespaces/{ns}")).await;
    assert!(
        body.contains("&quot;&gt;&lt;img") || body.contains("\"&gt;&lt;img"),
        "{body}"
    );
    // The search box echoes what was searched for, escaped.
    let (_, _, body) = page(&app, &session, "/ui/search?q=%3Cscript%3Ex").await;
    assert!(!body.contains("<script"), "{body}");
    // The policy forbids running any script, inline or from elsewhere, and
    // being framed.
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
}

async fn the_version_page_shows_the_gate_signatures_and_files(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (unsigned, _) = app
        .sealed_version(&ns, &model, json!({}), &[("m.bin", b"w")])
        .await;
    let (signed, statement) = app
        .sealed_version(
            &ns,
            &model,
            full_lineage(),
            &[("model.safetensors", &crate::helpers::safetensors_bytes())],
        )
        .await;
    let key = Signer::generate();
    assert_eq!(
        key.register(&app, "release-bot", &[&ns]).await.status(),
        StatusCode::CREATED
    );
    let r = app
        .sign(&ns, &model, signed, &key.envelope(&statement))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (session, _) = sign_in(&app, &app.admin).await;

    let url = |v: i64| format!("/ui/models/{ns}/{model}/versions/{v}");
    let (_, _, body) = page(&app, &session, &url(unsigned)).await;
    let gate = section(&body, "Promotion gate");
    assert!(gate.contains("production"), "{gate}");
    assert!(gate.contains("refused"), "{gate}");
    assert!(gate.contains("unsigned"), "{gate}");
    assert!(gate.contains("lineage_incomplete"), "{gate}");
    assert!(!gate.contains("passes"), "{gate}");

    let (_, _, body) = page(&app, &session, &url(signed)).await;
    let gate = section(&body, "Promotion gate");
    assert!(gate.contains("passes"), "{gate}");
    assert!(!gate.contains("unsigned"), "{gate}");
    let sigs = section(&body, "Signatures");
    assert!(sigs.contains("release-bot"), "{sigs}");
    assert!(sigs.contains("ed25519"), "{sigs}");
    assert!(sigs.contains("verified"), "{sigs}");
    let files = section(&body, "Files");
    assert!(files.contains("model.safetensors"), "{files}");
    assert!(files.contains("safetensors"), "{files}");

    // The keys page lists the key with the versions that depend on it.
    let (_, _, body) = page(&app, &session, "/ui/keys").await;
    assert!(body.contains("release-bot"), "{body}");
    assert!(
        body.contains(&format!(r#"href="{}""#, url(signed))),
        "{body}"
    );
    assert!(!body.contains(&format!(r#"href="{}""#, url(unsigned))));

    // Revoked, the key's signature no longer counts, and the page says why.
    let r = app
        .req(Method::POST, &format!("/v1/keys/{}/revoke", key.keyid))
        .json(&json!({"reason": "compromised"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (_, _, body) = page(&app, &session, &url(signed)).await;
    let gate = section(&body, "Promotion gate");
    assert!(gate.contains("key_revoked"), "{gate}");
    assert!(section(&body, "Signatures").contains("key_revoked"));
    let (_, _, body) = page(&app, &session, "/ui/keys").await;
    assert!(body.contains("compromised"), "{body}");

    // The model page lists both versions with their signature counts.
    let (_, _, body) = page(&app, &session, &format!("/ui/models/{ns}/{model}")).await;
    let versions = section(&body, "Versions");
    assert!(versions.contains(&format!(r#"href="{}""#, url(unsigned))));
    assert!(versions.contains(&format!(r#"href="{}""#, url(signed))));
    assert!(versions.contains("unsigned"), "{versions}");
}

/// The part of a page from the heading that starts with `title` to the next
/// section.
fn section<'a>(body: &'a str, title: &str) -> &'a str {
    let start = body
        .find(&format!("<h2>{title}"))
        .unwrap_or_else(|| panic!("no section {title}: {body}"));
    let rest = &body[start..];
    let end = rest.find("</section>").unwrap_or(rest.len());
    &rest[..end]
}

async fn the_lineage_graph_marks_what_a_quarantine_taints(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (base, _) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"w")])
        .await;
    let mut clean = full_lineage();
    clean["data"][0]["sha256"] = json!("11".repeat(32));
    clean["parents"] = json!([{"model": format!("{ns}/{model}"), "version": base}]);
    let (child, _) = app
        .sealed_version(&ns, &model, clean, &[("m.bin", b"v")])
        .await;
    let (session, _) = sign_in(&app, &app.admin).await;
    let graph = |v: i64| format!("/ui/models/{ns}/{model}/versions/{v}/lineage");

    let (status, _, body) = page(&app, &session, &graph(child)).await;
    assert_eq!(status, StatusCode::OK);
    let svg = &body[body.find("<svg").unwrap()..body.find("</svg>").unwrap()];
    for href in [
        format!("/ui/models/{ns}/{model}/versions/{base}"),
        format!("/ui/models/{ns}/{model}/versions/{child}"),
        format!("/ui/search?q={}", "cd".repeat(32)),
        format!("/ui/search?q={}", "11".repeat(32)),
        format!("/ui/search?q={}", "ab".repeat(20)),
    ] {
        assert!(svg.contains(&format!(r#"href="{href}""#)), "{href}: {svg}");
    }
    assert!(!svg.contains("bad"), "nothing quarantined yet: {svg}");

    // The base model's dataset is poisoned: it, the base and the fine-tune
    // built on it are marked; the fine-tune's own dataset is not.
    let r = app
        .req(Method::POST, "/v1/quarantines")
        .json(&json!({"kind": "dataset", "value": "cd".repeat(32), "reason": "poisoned"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, _, body) = page(&app, &session, &graph(child)).await;
    let svg = &body[body.find("<svg").unwrap()..body.find("</svg>").unwrap()];
    let node = |href: &str| {
        let at = svg
            .find(&format!(r#"href="{href}""#))
            .unwrap_or_else(|| panic!("{href}: {svg}"));
        let g = &svg[at..];
        g[..g.find("</a>").unwrap()].to_owned()
    };
    let bad = |href: &str| node(href).contains(r#"class="node"#) && node(href).contains(" bad\"");
    assert!(bad(&format!("/ui/search?q={}", "cd".repeat(32))), "{svg}");
    assert!(bad(&format!("/ui/models/{ns}/{model}/versions/{base}")));
    assert!(bad(&format!("/ui/models/{ns}/{model}/versions/{child}")));
    assert!(!bad(&format!("/ui/search?q={}", "11".repeat(32))));
    assert!(body.contains("2 versions quarantined"), "{body}");
}

async fn every_page_view_is_an_audit_event(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, _) = app
        .sealed_version(&ns, &model, full_lineage(), &[("m.bin", b"w")])
        .await;
    let reader = app.member_token("rita", &ns, "reader").await;
    let (session, _) = sign_in(&app, &reader).await;
    let path = format!("/ui/models/{ns}/{model}/versions/{v}");
    assert_eq!(page(&app, &session, &path).await.0, StatusCode::OK);
    assert_eq!(
        page(&app, &session, "/ui/namespaces/secret-lab").await.0,
        StatusCode::NOT_FOUND
    );
    let events: Value = app
        .req(Method::GET, "/v1/audit?principal=rita")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = events["items"].as_array().unwrap();
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action}: {events:?}"))
    };
    let view = find("GET /ui/models/{ns}/{model}/versions/{v}");
    assert_eq!(view["status"], 200);
    assert_eq!(view["namespace"], ns.as_str());
    assert_eq!(view["model"], format!("{ns}/{model}"));
    assert_eq!(find("GET /ui/namespaces/{ns}")["status"], 404);
    let login = find("POST /ui/login");
    assert_eq!(login["status"], 303);
    // The secret of the session is nowhere in the log.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&session));
    assert!(!text.contains(&reader));
    // An auditor reads the page views in the console's own audit page.
    let auditor = app.member_token("alex", "*", "auditor").await;
    let (asession, _) = sign_in(&app, &auditor).await;
    let (status, _, body) = page(&app, &asession, "/ui/audit?principal=rita").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("GET /ui/models/{ns}/{model}/versions/{v}"),
        "{body}"
    );
    let (status, _, body) = page(&app, &asession, "/ui/audit/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("intact"), "{body}");
    let r = browser()
        .get(format!("{}/ui/audit/export?principal=rita", app.base))
        .header("cookie", format!("signet_session={asession}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let lines = r.text().await.unwrap();
    assert!(lines.lines().count() >= 3, "{lines}");
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).unwrap()["principal"] == "rita")
    );
}

async fn unknown_pages_and_bad_paths_get_an_html_error_page(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (session, _) = sign_in(&app, &app.admin).await;
    for (path, status) in [
        ("/ui/nowhere", StatusCode::NOT_FOUND),
        ("/ui/models/fraud/none", StatusCode::NOT_FOUND),
        ("/ui/models/Bad%20Name/x", StatusCode::BAD_REQUEST),
        (
            "/ui/models/fraud/scorer/versions/0",
            StatusCode::BAD_REQUEST,
        ),
        ("/ui/audit?since=yesterday", StatusCode::BAD_REQUEST),
        ("/ui?cursor=%00", StatusCode::BAD_REQUEST),
    ] {
        let (got, headers, body) = page(&app, &session, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}: {body}");
        assert!(headers.contains_key("content-security-policy"));
    }
    // The stylesheet is served from the binary, to anyone.
    let r = browser()
        .get(format!("{}/ui/assets/console.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
}

async fn search_finds_models_versions_aliases_datasets_and_commits(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model) = app.given_model().await;
    let (v, _) = app.released(&ns, &model, "ci", &[("m.bin", b"w")]).await;
    let (session, _) = sign_in(&app, &app.admin).await;
    let version = format!("/ui/models/{ns}/{model}/versions/{v}");
    for (q, to) in [
        (format!("{ns}/{model}"), format!("/ui/models/{ns}/{model}")),
        (format!("{ns}/{model}@{v}"), version.clone()),
        (format!("{ns}/{model}@production"), version.clone()),
        (ns.clone(), format!("/ui/namespaces/{ns}")),
    ] {
        let r = browser()
            .get(format!(
                "{}/ui/search?{}",
                app.base,
                serde_urlencoded::to_string([("q", &q)]).unwrap()
            ))
            .header("cookie", format!("signet_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{q}");
        assert_eq!(r.headers()["location"], to.as_str(), "{q}");
    }
    for q in [model.clone(), "cd".repeat(32), "ab".repeat(20)] {
        let (status, _, body) = page(&app, &session, &format!("/ui/search?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        let link = if q == model {
            format!(r#"href="/ui/models/{ns}/{model}""#)
        } else {
            format!(r#"href="{version}""#)
        };
        assert!(body.contains(&link), "{q}: {body}");
    }
    for q in ["nothing-here", "00".repeat(32).as_str()] {
        let (status, _, body) = page(&app, &session, &format!("/ui/search?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert!(body.contains("Nothing you may see matches"), "{q}: {body}");
    }
    let (status, _, _) = page(&app, &session, &format!("/ui/search?q={ns}/{model}@canary")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an alias that is not set");
}

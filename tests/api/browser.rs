//! The console in a real headless Chromium, driven over WebDriver by
//! ChromeDriver: a viewer signs in, walks from a namespace to a version, its
//! lineage graph and the audit log, sees nothing of another namespace, and
//! signs out. Screenshots of each page land in the test's temporary target
//! directory (and in `docs/console/` with `SIGNET_UPDATE_SCREENSHOTS=1`).
//!
//! `scripts/test.sh` installs Debian's `chromium` and `chromium-driver` when
//! missing; elsewhere the test is skipped without them, except under CI.

use std::path::PathBuf;
use std::process::Stdio;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, eventually, full_lineage};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One headless Chromium session behind its own ChromeDriver.
struct Browser {
    http: reqwest::Client,
    root: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the browser tests: install chromium and chromium-driver"
            );
            eprintln!("skipped: no {CHROMEDRIVER} (scripts/test.sh installs it)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let driver_url = format!("http://127.0.0.1:{port}");
        let ready = eventually(|| {
            let (http, url) = (http.clone(), format!("{driver_url}/status"));
            async move {
                match http.get(url).send().await {
                    Ok(r) => r
                        .json::<Value>()
                        .await
                        .is_ok_and(|v| v["value"]["ready"] == true),
                    Err(_) => false,
                }
            }
        })
        .await;
        assert!(ready, "chromedriver did not become ready");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let r: Value = http
            .post(format!("{driver_url}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"));
        Some(Self {
            http,
            root: format!("{driver_url}/session/{session}"),
            _driver: driver,
            _profile: profile,
        })
    }

    /// One WebDriver command; answers its `value`, or the error it gave.
    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.root));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let ok = r.status().is_success();
        let v: Value = r.json().await.unwrap();
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    async fn must(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.cmd(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn goto(&self, url: &str) {
        self.must(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn url(&self) -> String {
        self.must(Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .must(
                Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_owned())
            .collect()
    }

    async fn find(&self, css: &str) -> String {
        let all = self.find_all(css).await;
        assert!(!all.is_empty(), "no element {css} on {}", self.url().await);
        all[0].clone()
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.must(
            Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks `css` and waits until another page has loaded.
    async fn follow(&self, css: &str) {
        let before = self.url().await;
        self.click(css).await;
        assert!(
            eventually(|| async { self.url().await != before }).await,
            "{css} led nowhere from {before}"
        );
        self.loaded().await;
    }

    /// Waits until the page in the window has loaded.
    async fn loaded(&self) {
        let script = json!({"script": "return document.readyState", "args": []});
        let complete = eventually(|| async {
            self.cmd(Method::POST, "/execute/sync", Some(script.clone()))
                .await
                .is_ok_and(|v| v == "complete")
        })
        .await;
        assert!(complete, "the page never finished loading");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.must(
            Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The text of the page as a user reads it. A page being replaced (a
    /// navigation under way) is read again once the new one holds still.
    async fn text(&self) -> String {
        let got = std::sync::Mutex::new(None);
        let read = eventually(|| async {
            let text = self.try_text().await;
            let done = text.is_some();
            *got.lock().unwrap() = text;
            done
        })
        .await;
        assert!(read, "the page could not be read");
        got.into_inner().unwrap().unwrap()
    }

    async fn try_text(&self) -> Option<String> {
        let css = json!({"using": "css selector", "value": "body"});
        let body = self.cmd(Method::POST, "/element", Some(css)).await.ok()?;
        let id = body[ELEMENT].as_str()?.to_owned();
        let text = self
            .cmd(Method::GET, &format!("/element/{id}/text"), None)
            .await
            .ok()?;
        text.as_str().map(str::to_owned)
    }

    async fn script(&self, js: &str) -> Value {
        self.must(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Whether a script opened an alert.
    async fn alert_open(&self) -> bool {
        self.cmd(Method::GET, "/alert/text", None).await.is_ok()
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.must(Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &bytes).unwrap();
        if std::env::var_os("SIGNET_UPDATE_SCREENSHOTS").is_some() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &bytes).unwrap();
        }
    }
}

/// A namespace with a signed, promoted model and a fine-tune of it built on a
/// dataset later quarantined; another namespace the viewer may not read; a
/// viewer who reads and audits the first. Answers the viewer's token.
async fn given_a_registry(app: &TestApp) -> String {
    let (ns, model) = app.given_model().await;
    let safetensors = crate::helpers::safetensors_bytes();
    let (base, _) = app
        .released(
            &ns,
            &model,
            "release-pipeline",
            &[("model.safetensors", &safetensors)],
        )
        .await;
    let mut tuned = full_lineage();
    tuned["data"] = json!([{"name": "chargebacks-q3", "sha256": "5e".repeat(32)}]);
    tuned["parents"] = json!([{"model": format!("{ns}/{model}"), "version": base}]);
    let r = app
        .create_version(
            &ns,
            &model,
            json!({"lineage": tuned, "metadata": {"note": "<script>alert(1)</script>"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = r.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let r = app
        .put_file(
            &ns,
            &model,
            v,
            "model.safetensors",
            crate::helpers::safetensors_bytes(),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.seal(&ns, &model, v).await.status(), StatusCode::OK);
    let r = app
        .req(Method::POST, "/v1/quarantines")
        .json(&json!({"kind": "dataset", "value": "cd".repeat(32),
                      "reason": "label flipping found in the export", "namespaces": [ns]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
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
    let r = app
        .req(Method::PUT, &format!("/v1/namespaces/{ns}/members/ana"))
        .json(&json!({"roles": ["reader", "auditor"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.mint("ana").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_walks_the_console_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = given_a_registry(&app).await;
    let b = &browser;

    // Signing in: the token goes into a form, never into a URL.
    b.goto(&format!("{}/ui", app.base)).await;
    assert!(b.text().await.contains("Sign in to Signet"));
    b.screenshot("sign-in").await;
    b.type_into("#token", &token).await;
    b.click("section.signin button[type=submit]").await;
    assert!(eventually(|| async { b.text().await.contains("Signed in as") }).await);
    b.loaded().await;
    assert_eq!(b.url().await, format!("{}/ui", app.base));
    assert!(!b.url().await.contains(&token));
    let text = b.text().await;
    assert!(text.contains("Signed in as ana"), "{text}");
    assert!(text.contains("fraud"), "{text}");
    assert!(!text.contains("secret-lab"), "another namespace: {text}");
    // The session cookie is out of any script's reach.
    assert_eq!(b.script("return document.cookie").await, "");
    b.screenshot("namespaces").await;

    // Namespace → model → version.
    b.follow(r#"a[href="/ui/namespaces/fraud"]"#).await;
    assert!(b.text().await.contains("Promotion policy"));
    b.follow(r#"td a[href="/ui/models/fraud/scorer"]"#).await;
    let text = b.text().await;
    assert!(text.contains("Alias history"), "{text}");
    assert!(text.contains("production"), "{text}");
    b.screenshot("model").await;
    b.follow(r#"a[href="/ui/models/fraud/scorer/versions/2"]"#)
        .await;
    let text = b.text().await;
    assert!(text.contains("Promotion gate, now"), "{text}");
    assert!(text.contains("quarantined"), "{text}");
    assert!(text.contains("unsigned"), "{text}");
    // Where the quarantine comes from: the base model's dataset, through it.
    assert!(
        text.contains(&format!("The dataset {}", "cd".repeat(32))),
        "{text}"
    );
    assert!(text.contains("The base model fraud/scorer@1"), "{text}");
    // Metadata is shown as the text it is, and nothing ran.
    assert!(text.contains("<script>alert(1)</script>"), "{text}");
    assert!(!b.alert_open().await, "a script in metadata ran");
    b.screenshot("version").await;

    // The signed base model shows its signature and passes nothing while
    // its dataset is quarantined.
    b.goto(&format!("{}/ui/models/fraud/scorer/versions/1", app.base))
        .await;
    let text = b.text().await;
    assert!(text.contains("release-pipeline"), "{text}");
    assert!(text.contains("verified"), "{text}");

    // The lineage graph: drawn, linked, the tainted nodes marked.
    b.goto(&format!("{}/ui/models/fraud/scorer/versions/2", app.base))
        .await;
    b.follow(r#"dd a[href="/ui/models/fraud/scorer/versions/2/lineage"]"#)
        .await;
    let nodes = b.find_all("svg.lineage g.node").await;
    assert_eq!(nodes.len(), 5, "two versions, three datasets and commits");
    let tainted = b.find_all("svg.lineage g.node.bad").await;
    assert_eq!(tainted.len(), 3, "the dataset, the base, the fine-tune");
    let drawn = b
        .script("return document.querySelector('svg.lineage').getBoundingClientRect().width")
        .await;
    assert!(drawn.as_f64().unwrap() > 500.0, "{drawn}");
    b.screenshot("lineage").await;
    b.follow(r#"svg.lineage a[href="/ui/models/fraud/scorer/versions/1"]"#)
        .await;
    assert!(
        b.url()
            .await
            .ends_with("/ui/models/fraud/scorer/versions/1")
    );

    // The audit log holds this very walk.
    b.follow(r#"header nav a[href="/ui/audit"]"#).await;
    let text = b.text().await;
    assert!(
        text.contains("GET /ui/models/{ns}/{model}/versions/{v}/lineage"),
        "{text}"
    );
    assert!(text.contains("ana"), "{text}");
    b.screenshot("audit").await;

    // Nothing of another namespace, even by its address.
    b.goto(&format!("{}/ui/namespaces/secret-lab", app.base))
        .await;
    assert!(b.text().await.contains("404"));
    b.goto(&format!("{}/ui", app.base)).await;

    // Signing out ends the session.
    b.follow("form.signout button").await;
    assert!(b.url().await.ends_with("/ui/login"));
    b.goto(&format!("{}/ui/models/fraud/scorer", app.base))
        .await;
    assert!(b.text().await.contains("Sign in to Signet"));
    let _ = b.cmd(Method::DELETE, "", None).await;
}

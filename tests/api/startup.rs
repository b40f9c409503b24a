//! Start-up as an operator meets it, through the real binary: replicas started
//! at the same instant on an empty or an older PostgreSQL database (one
//! migrates, the others wait, none exits), an upgrade while sessions of the
//! release before hold transactions (each migration statement waits a bounded
//! time and is tried again, and the replica stays unready meanwhile),
//! migrations as a step of their own, and start-up errors that say what, where
//! and how to fix, without credentials or a backtrace.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, Executor};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{Backend, free_port, fresh_postgres_database, postgres_opted_out};

crate::on_both_backends!(migrations_run_as_a_step_of_their_own);

/// What a `signet` process printed so far (stdout and stderr, line by line),
/// and how many of the two streams have ended.
#[derive(Clone, Default)]
struct Output {
    text: String,
    ended: u8,
}

/// A `signet` process of this test's, its output watched as it comes.
pub(crate) struct Signet {
    child: tokio::process::Child,
    output: watch::Receiver<Output>,
}

/// How long a start may take here before the test says so.
const START: Duration = Duration::from_secs(60);

impl Signet {
    /// Starts `signet ARGS` with `vars`, logging JSON, both listeners on free
    /// loopback ports, and RUST_BACKTRACE=1 (an operator's error must still
    /// print no backtrace).
    pub(crate) fn spawn(args: &[&str], vars: &[(&str, String)]) -> Self {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"));
        cmd.args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("SIGNET_LOG_FORMAT", "json")
            .env("SIGNET_LISTEN", "127.0.0.1:0")
            .env("SIGNET_METRICS_LISTEN", "127.0.0.1:0")
            .env("SIGNET_GC_INTERVAL_SECS", "0")
            .env("SIGNET_DATABASE_MAX_CONNECTIONS", "2")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, output) = watch::channel(Output::default());
        let tx = std::sync::Arc::new(tx);
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tx.send_modify(|o| {
                        o.text.push_str(&line);
                        o.text.push('\n');
                    });
                }
                tx.send_modify(|o| o.ended += 1);
            });
        }
        Self { child, output }
    }

    pub(crate) fn text(&self) -> String {
        self.output.borrow().text.clone()
    }

    /// Waits until the output holds `needle`; false when the process ended
    /// first or `within` passed.
    async fn printed(&self, needle: &str, within: Duration) -> bool {
        let mut rx = self.output.clone();
        let seen = tokio::time::timeout(
            within,
            rx.wait_for(|o| o.text.contains(needle) || o.ended == 2),
        )
        .await;
        matches!(seen, Ok(Ok(o)) if o.text.contains(needle))
    }

    /// The `listen` field of the JSON log line whose message is `message`.
    fn listening(&self, message: &str) -> Option<String> {
        self.text().lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["fields"]["message"] == message)
                .then(|| format!("http://{}", v["fields"]["listen"].as_str().unwrap()))
        })
    }

    /// The operator's listener, once it is bound.
    async fn ops(&self) -> String {
        let line = "metrics, health and readiness served";
        assert!(
            self.printed(line, START).await,
            "no operator listener: {}",
            self.text()
        );
        self.listening(line).unwrap()
    }

    /// Waits until the process serves and its `/readyz` answers 200; returns
    /// the API's base URL.
    pub(crate) async fn ready(&self) -> String {
        assert!(
            self.printed("signet serving", START).await,
            "signet did not start: {}",
            self.text()
        );
        let r = reqwest::get(format!("{}/readyz", self.ops().await))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", self.text());
        self.listening("signet serving").unwrap()
    }

    /// `/readyz` on the operator's listener, now.
    async fn readiness(&self) -> (StatusCode, String) {
        let r = reqwest::get(format!("{}/readyz", self.ops().await))
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Kills the process as a crash would (SIGKILL): nothing of it runs on.
    pub(crate) async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to end by itself; returns its status and output.
    async fn ended(mut self, within: Duration) -> (ExitStatus, String) {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("signet did not end: {}", self.text()))
            .unwrap();
        let mut rx = self.output.clone();
        let _ = tokio::time::timeout(START, rx.wait_for(|o| o.ended == 2)).await;
        (status, self.text())
    }
}

/// Runs `signet ARGS` to its end.
async fn run(args: &[&str], vars: &[(&str, String)]) -> (ExitStatus, String) {
    Signet::spawn(args, vars).ended(START).await
}

/// An operator's error: one line on stderr, `signet: …`, and no backtrace.
fn assert_one_line_error(out: &str) {
    assert!(
        !out.to_lowercase().contains("backtrace"),
        "an operator's error printed a backtrace: {out}"
    );
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("signet: ")).collect();
    assert_eq!(errors.len(), 1, "{out}");
}

/// A fresh PostgreSQL database migrated as the releases before the concurrent
/// index builds left it (through migration 0015); 0016 to 0021 are pending.
async fn older_postgres_database() -> String {
    let url = fresh_postgres_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::migrate!("migrations/postgres")
        .run_to(15, &pool)
        .await
        .unwrap();
    pool.close().await;
    url
}

/// A service's settings on `database` with blobs in `dir` and a known admin token.
pub(crate) fn settings(
    database: String,
    dir: &tempfile::TempDir,
) -> (Vec<(&'static str, String)>, String) {
    let token = format!("sgn_{}", Uuid::new_v4().simple());
    let vars = vec![
        ("SIGNET_DATABASE_URL", database),
        (
            "SIGNET_STORAGE_URL",
            dir.path().join("blobs").display().to_string(),
        ),
        ("SIGNET_BOOTSTRAP_TOKEN", token.clone()),
    ];
    (vars, token)
}

/// The access log as `/v1/audit/verify` judges it.
async fn verified(api: &str, token: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{api}/v1/audit/verify"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// `n` replicas started at the same instant on one database, ten rounds: every
/// one serves and is ready, exactly one applied the migrations, and one
/// request on each leaves one access log that verifies.
async fn replicas_start_at_once(n: usize, older: bool) {
    if postgres_opted_out() {
        return;
    }
    let client = reqwest::Client::new();
    for round in 1..=10 {
        let database = if older {
            older_postgres_database().await
        } else {
            fresh_postgres_database().await
        };
        let dir = tempfile::tempdir().unwrap();
        let (vars, token) = settings(database, &dir);
        let replicas: Vec<Signet> = (0..n).map(|_| Signet::spawn(&["serve"], &vars)).collect();
        let mut apis = Vec::new();
        for r in &replicas {
            apis.push(r.ready().await);
        }
        let migrators = replicas
            .iter()
            .filter(|r| r.text().contains("migration(s)"))
            .count();
        assert_eq!(
            migrators, 1,
            "round {round}: not exactly one replica migrated"
        );
        for api in &apis {
            let r = client
                .get(format!("{api}/v1/whoami"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "round {round}");
        }
        let v = verified(&apis[0], &token).await;
        assert_eq!(v["ok"], true, "round {round}: {v}");
        assert!(
            v["checked"].as_i64().unwrap() >= n as i64,
            "round {round}: {v}"
        );
        for r in &replicas {
            assert!(
                !r.text().contains("deadlock"),
                "round {round}: {}",
                r.text()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_started_at_once_on_an_empty_database_all_serve() {
    replicas_start_at_once(3, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_replicas_started_at_once_on_an_empty_database_all_serve() {
    replicas_start_at_once(5, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_started_at_once_on_an_older_database_all_serve() {
    replicas_start_at_once(3, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_replicas_started_at_once_on_an_older_database_all_serve() {
    replicas_start_at_once(5, true).await;
}

/// An upgrade while the release before still serves: one of its sessions holds
/// a long audit export's snapshot, which the concurrent index build of 0016
/// must wait for. The migration gives up after the lock timeout and is tried
/// again, with a line saying so; the new replicas stay alive and unready; the
/// old sessions' short reads are answered all along; once the export ends,
/// every replica serves, and no invalid index is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_waits_for_old_sessions_a_bounded_time_and_tries_again() {
    if postgres_opted_out() {
        return;
    }
    let database = older_postgres_database().await;
    let mut export = sqlx::PgConnection::connect(&database).await.unwrap();
    export
        .execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    sqlx::query("SELECT count(*) FROM audit_events")
        .execute(&mut export)
        .await
        .unwrap();

    // The old release's reads, one after another, each timed.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reads = tokio::spawn({
        let database = database.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&database).await.unwrap();
            let (mut slowest, mut count) = (Duration::ZERO, 0u32);
            loop {
                let started = Instant::now();
                sqlx::query(
                    "SELECT (SELECT count(*) FROM files) + (SELECT count(*) FROM audit_events)",
                )
                .execute(&mut conn)
                .await
                .unwrap();
                slowest = slowest.max(started.elapsed());
                count += 1;
                tokio::select! {
                    _ = &mut stopped => return (slowest, count),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let (mut vars, token) = settings(database.clone(), &dir);
    vars.push(("SIGNET_MIGRATION_LOCK_TIMEOUT_SECS", "1".into()));
    let mut replicas: Vec<Signet> = (0..3).map(|_| Signet::spawn(&["serve"], &vars)).collect();

    let retried = "waited longer than the lock timeout";
    let mut rxs: Vec<_> = replicas.iter().map(|r| r.output.clone()).collect();
    let said = futures::future::select_all(
        rxs.iter_mut()
            .map(|rx| Box::pin(rx.wait_for(move |o| o.text.contains(retried)))),
    );
    assert!(
        tokio::time::timeout(START, said).await.is_ok(),
        "no replica said it would try again: {}",
        replicas.iter().map(Signet::text).collect::<String>()
    );
    // Tried again, and again: still waiting, and every replica alive and unready.
    let migrator = replicas
        .iter()
        .position(|r| r.text().contains(retried))
        .unwrap();
    let mut rx = replicas[migrator].output.clone();
    let again = rx.wait_for(|o| o.text.matches(retried).count() >= 2);
    assert!(tokio::time::timeout(START, again).await.is_ok());
    for r in &mut replicas {
        assert!(r.running(), "a replica exited: {}", r.text());
        let (status, body) = r.readiness().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        assert_eq!(body, "starting");
        assert!(!r.text().contains("signet serving"));
    }

    // The export ends: the migration goes through, every replica serves.
    export.execute("COMMIT").await.unwrap();
    let mut apis = Vec::new();
    for r in &replicas {
        apis.push(r.ready().await);
    }
    let _ = stop.send(());
    let (slowest, count) = reads.await.unwrap();
    assert!(count > 10, "the old release's reads did not run");
    assert!(
        slowest < Duration::from_millis(2500),
        "an old session's read waited {slowest:?} behind the migration"
    );

    let mut conn = sqlx::PgConnection::connect(&database).await.unwrap();
    let (invalid,): (i64,) = sqlx::query_as("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(invalid, 0, "an invalid index was left behind");
    let (built,): (bool,) =
        sqlx::query_as("SELECT to_regclass('audit_events_model_outcome') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(built);
    assert_eq!(verified(&apis[0], &token).await["ok"], true);
}

/// A database at migration 15 on either backend, with the settings to reach it.
async fn older_database(b: Backend, dir: &tempfile::TempDir) -> String {
    match b {
        Backend::Postgres => older_postgres_database().await,
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("signet.db").display());
            let opts = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            sqlx::migrate!("migrations/sqlite")
                .run_to(15, &pool)
                .await
                .unwrap();
            pool.close().await;
            url
        }
    }
}

/// `signet migrate --check` lists what is pending and exits 3; `serve
/// --no-migrate` refuses an older schema and changes nothing; `signet migrate`
/// applies it; then the check passes and `serve --no-migrate` serves.
async fn migrations_run_as_a_step_of_their_own(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = older_database(b, &dir).await;
    let (vars, token) = settings(database, &dir);

    let (status, out) = run(&["migrate", "--check"], &vars).await;
    assert_eq!(status.code(), Some(3), "{out}");
    // The older database stops at 0015: every later migration is pending.
    let later = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .get(..4)?
                .parse::<u32>()
                .ok()
        })
        .filter(|n| *n > 15)
        .count();
    assert!(
        out.contains(&format!("{later} migration(s) pending")),
        "{out}"
    );
    assert!(out.contains("0016 audit model outcome"), "{out}");
    assert!(out.contains("0022 registry tokens"), "{out}");

    let mut no_migrate = vars.clone();
    no_migrate.push(("SIGNET_NO_MIGRATE", "true".into()));
    let (status, out) = run(&["serve"], &no_migrate).await;
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("older than this build needs"), "{out}");
    assert!(out.contains("run `signet migrate` first"), "{out}");
    assert!(out.contains("0016"), "{out}");
    assert_one_line_error(&out);
    let (status, _) = run(&["migrate", "--check"], &vars).await;
    assert_eq!(status.code(), Some(3), "the refused start migrated");

    let (status, out) = run(&["migrate"], &vars).await;
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("applied {later} migration(s)")),
        "{out}"
    );
    let (status, out) = run(&["migrate", "--check"], &vars).await;
    assert!(status.success(), "{out}");
    assert!(out.contains("up to date"), "{out}");

    let signet = Signet::spawn(&["serve"], &no_migrate);
    let api = signet.ready().await;
    assert_eq!(verified(&api, &token).await["ok"], true);
}

/// Settings that start on SQLite in `dir`.
fn embedded(dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    settings(
        format!("sqlite://{}", dir.path().join("signet.db").display()),
        dir,
    )
    .0
}

/// A log written to a file or a pipe (journald, a container's log driver)
/// carries no terminal colour codes.
#[tokio::test]
async fn a_log_that_is_no_terminal_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = embedded(&dir);
    vars.push(("SIGNET_LOG_FORMAT", "text".into()));
    let signet = Signet::spawn(&["serve"], &vars);
    assert!(
        signet.printed("signet serving", START).await,
        "signet did not start: {}",
        signet.text()
    );
    let text = signet.text();
    assert!(text.contains(" INFO "), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a piped log: {text:?}"
    );
}

/// `--data-dir` moves both embedded stores; every request leaves one log
/// line naming its route template (never the path), status, duration,
/// principal and request id.
#[tokio::test]
async fn the_data_directory_holds_the_defaults_and_each_request_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("registry data");
    let token = format!("sgn_{}", Uuid::new_v4().simple());
    let signet = Signet::spawn(
        &["serve", "--data-dir", data.to_str().unwrap()],
        &[("SIGNET_BOOTSTRAP_TOKEN", token.clone())],
    );
    let api = signet.ready().await;
    assert!(data.join("signet.db").is_file(), "{}", signet.text());
    assert!(data.join("blobs").is_dir());
    let r = reqwest::Client::new()
        .get(format!("{api}/v1/models/secret-ns/hidden"))
        .bearer_auth(&token)
        .header("x-request-id", "req-logged-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        signet.printed("req-logged-1", START).await,
        "{}",
        signet.text()
    );
    let text = signet.text();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["request_id"] == "req-logged-1")
        .collect();
    assert_eq!(lines.len(), 1, "one line per request: {text}");
    let f = &lines[0]["fields"];
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(f["method"], "GET");
    assert_eq!(f["route"], "/v1/models/{ns}/{model}");
    assert_eq!(f["status"], 404);
    assert_eq!(f["principal"], "admin");
    assert!(f["duration_ms"].as_f64().is_some(), "{f}");
    assert!(
        !text.contains("secret-ns"),
        "the path is never logged: {text}"
    );
}

/// `serve --help` lists what a server takes, and none of the client's flags.
#[tokio::test]
async fn serve_help_lists_only_server_flags() {
    let (status, out) = run(&["serve", "--help"], &[]).await;
    assert!(status.success(), "{out}");
    for server in ["--listen", "--data-dir", "--database-url", "--storage-url"] {
        assert!(out.contains(server), "{server} missing: {out}");
    }
    for client in ["--json", "--quiet", "--trust-key", "--jobs"] {
        assert!(!out.contains(client), "{client} listed: {out}");
    }
}

#[tokio::test]
async fn an_address_in_use_is_named_with_the_setting_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for setting in ["SIGNET_LISTEN", "SIGNET_METRICS_LISTEN"] {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = embedded(&dir);
        vars.push((setting, addr.clone()));
        let (status, out) = run(&["serve"], &vars).await;
        assert_eq!(status.code(), Some(1), "{out}");
        assert!(out.contains(&format!("cannot listen on {addr}")), "{out}");
        assert!(out.contains("in use"), "{out}");
        assert!(out.contains(setting), "{out}");
        assert_one_line_error(&out);
        assert!(
            !dir.path().join("signet.db").exists(),
            "the refused start created the database"
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_is_retried_then_named_without_its_password() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut vars = embedded(&dir);
    vars.push((
        "SIGNET_DATABASE_URL",
        format!("postgres://signet:s3cret-pw@127.0.0.1:{port}/registry"),
    ));
    vars.push(("SIGNET_STARTUP_TIMEOUT_SECS", "2".into()));
    let started = Instant::now();
    let (status, out) = run(&["serve"], &vars).await;
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20), "{out}");
    assert!(
        out.contains(&format!(
            "the database at postgres://signet@127.0.0.1:{port}/registry did not answer within 2 s"
        )),
        "{out}"
    );
    assert!(out.contains("SIGNET_STARTUP_TIMEOUT_SECS"), "{out}");
    assert!(out.contains("does not answer yet; trying again"), "{out}");
    assert!(
        !out.contains("s3cret-pw"),
        "the password reached the output"
    );
    assert_one_line_error(&out);
}

#[tokio::test]
async fn an_unreachable_blob_store_is_named_without_its_secret() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut vars = embedded(&dir);
    let secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    vars.extend([
        ("SIGNET_STORAGE_URL", "s3://models/registry".to_owned()),
        ("SIGNET_S3_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("SIGNET_S3_ALLOW_HTTP", "true".into()),
        ("SIGNET_S3_REGION", "garage".into()),
        (
            "SIGNET_S3_ACCESS_KEY_ID",
            "GK0123456789abcdef01234567".into(),
        ),
        ("SIGNET_S3_SECRET_ACCESS_KEY", secret.into()),
        ("SIGNET_STARTUP_TIMEOUT_SECS", "1".into()),
    ]);
    let (status, out) = run(&["serve"], &vars).await;
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "the blob store at s3://models/registry (http://127.0.0.1:{port}) did not answer"
        )),
        "{out}"
    );
    assert!(!out.contains(secret), "the secret reached the output");
    assert_one_line_error(&out);
}

/// A database that comes up while a replica starts: the replica keeps trying,
/// is alive and unready meanwhile, and serves once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_comes_up_during_start_is_waited_for() {
    if postgres_opted_out() {
        return;
    }
    let database = fresh_postgres_database().await;
    let real = url::Url::parse(&database).unwrap();
    let target = format!(
        "{}:{}",
        real.host_str().unwrap(),
        real.port().unwrap_or(5432)
    );
    let port = free_port();
    let mut through = real.clone();
    through.set_port(Some(port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (vars, token) = settings(through.to_string(), &dir);
    let signet = Signet::spawn(&["serve"], &vars);
    assert!(
        signet.printed("does not answer yet", START).await,
        "{}",
        signet.text()
    );
    assert_eq!(
        signet.readiness().await,
        (StatusCode::SERVICE_UNAVAILABLE, "starting".to_owned())
    );

    // The database's address answers now: a loopback relay to the real one.
    let relay = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let api = signet.ready().await;
    assert_eq!(verified(&api, &token).await["ok"], true);
}

//! The client's HTTP: a signed-in connection to one registry, its retries with
//! backoff, and a failed answer turned into a [`Failure`] with its exit code.

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;
use crate::api::{
    CompleteUpload, ErrorBody, FileView, StartUpload, UploadView, VersionView, paths,
};
use crate::names::{NewFilePath, VersionNumber};

/// A signed-in connection to one registry.
pub struct Client {
    pub(super) base: String,
    token: String,
    http: reqwest::Client,
}

/// One attempt that failed, and whether another may succeed.
pub(super) struct Attempt {
    failure: Failure,
    transient: bool,
    retry_after: Option<std::time::Duration>,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::new(Exit::Failure, format!("HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        // A client made without a token (the identity token exchange) sends none.
        match self.token.is_empty() {
            true => req,
            false => req.bearer_auth(&self.token),
        }
    }

    /// `POST`s a form (`application/x-www-form-urlencoded`) and reads the
    /// typed answer.
    pub async fn post_form<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        form: &B,
    ) -> Result<R, Failure> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| Failure::new(Exit::Failure, format!("the form: {e}")))?;
        let resp = self
            .send(|| {
                self.request(Method::POST, path)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body.clone())
            })
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the answer: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                Exit::Failure,
                format!("POST {path}: the registry's answer is not what the API states: {e}"),
            )
        })
    }

    /// Sends the request `build` makes, again after a transient failure (a
    /// connection refused or reset, a timeout, 429 with its `Retry-After`, 502,
    /// 503, 504), up to 5 attempts with exponential backoff and jitter. Any
    /// other error answer becomes a [`Failure`] of its kind.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        use backon::Retryable;
        let began = std::time::Instant::now();
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let attempt = || {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.attempt(build())
        };
        attempt
            .retry(backoff())
            .when(|a| a.transient)
            // Retry-After replaces the next delay; it never adds attempts.
            .adjust(|a, backoff| backoff.map(|d| a.retry_after.unwrap_or(d)))
            .await
            .map_err(|a| {
                let n = attempts.load(std::sync::atomic::Ordering::Relaxed);
                match a.transient && n > 1 {
                    true => Failure {
                        message: format!(
                            "{} ({n} attempts over {:.1} s)",
                            a.failure.message,
                            began.elapsed().as_secs_f64()
                        ),
                        ..a.failure
                    },
                    false => a.failure,
                }
            })
    }

    /// Sends one request: a success, or why it failed and whether another
    /// attempt may succeed.
    async fn attempt(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Attempt> {
        let resp = req.send().await.map_err(|e| Attempt {
            transient: e.is_connect() || e.is_timeout() || e.is_request(),
            failure: Failure::new(
                Exit::Failure,
                format!("cannot reach {}: {}", self.base, without_url(&e)),
            ),
            retry_after: None,
        })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| std::time::Duration::from_secs(s.min(60)));
        let body = resp.bytes().await.unwrap_or_default();
        Err(Attempt {
            transient: matches!(status, 429 | 502 | 503 | 504),
            failure: failure_of(status, &body),
            retry_after,
        })
    }

    /// The version a target names: its number, or the version its alias
    /// points at now.
    pub async fn resolve(&self, target: &Target) -> Result<VersionNumber, Failure> {
        match &target.at {
            At::Version(v) => Ok(*v),
            At::Alias(a) => {
                let v: VersionView = self.get(&paths::alias(&target.model_ref(), a)).await?;
                VersionNumber::new(v.summary.version)
                    .map_err(|_| Failure::new(Exit::Failure, "the alias answer names no version"))
            }
        }
    }

    /// `GET` a typed answer.
    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, Failure> {
        self.exchange(Method::GET, path, None::<&()>).await
    }

    /// Sends a request with a typed JSON body (or none) and reads the typed
    /// answer: an answer that is not what the contract states is a failure.
    pub async fn exchange<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, Failure> {
        let resp = self
            .send(|| {
                let req = self.request(method.clone(), path);
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the answer: {e}")))?;
        // An answer without a body (204) reads as JSON null.
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| {
            Failure::new(
                Exit::Failure,
                format!("{method} {path}: the registry's answer is not what the API states: {e}"),
            )
        })
    }

    /// The raw bytes of a successful `GET` (a statement is signed as served).
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, Failure> {
        let resp = self.send(|| self.request(Method::GET, path)).await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the answer: {e}")))
    }

    /// The body of a successful `GET` from byte `from` on, as it arrives, and
    /// whether the server answered with that range (`false`: the whole body).
    pub async fn stream_from(
        &self,
        path: &str,
        from: u64,
    ) -> Result<
        (
            futures::stream::BoxStream<'static, Result<bytes::Bytes, Failure>>,
            bool,
        ),
        Failure,
    > {
        use futures::StreamExt;
        let resp = self
            .send(|| {
                // Every byte is checked here against the signed statement, so
                // the registry may send us to its object store instead.
                let req = self
                    .request(Method::GET, path)
                    .header(crate::api::ACCEPT_REDIRECT, "true");
                if from > 0 {
                    req.header(reqwest::header::RANGE, format!("bytes={from}-"))
                } else {
                    req
                }
            })
            .await?;
        let ranged = from > 0
            && resp.status().as_u16() == 206
            && resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(&format!("bytes {from}-")));
        let body = resp
            .bytes_stream()
            .map(|c| c.map_err(|e| Failure::new(Exit::Failure, format!("download: {e}"))))
            .boxed();
        Ok((body, ranged))
    }

    /// Streams a local file to `path` (`PUT`), with its SHA-256 for the
    /// registry to check; the file is opened again for each attempt.
    pub async fn upload(
        &self,
        path: &str,
        file: std::path::PathBuf,
        sha256_hex: String,
        sent: impl Fn(u64) + Clone + Send + Sync + 'static,
    ) -> Result<(), Failure> {
        let len = std::fs::metadata(&file)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?
            .len();
        let opened = std::sync::Mutex::new(None);
        // Each attempt needs a body of its own: the file is opened up front for
        // the first, and again (synchronously) for each retry.
        let build = || {
            let f = opened
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .or_else(|| {
                    std::fs::File::open(&file)
                        .ok()
                        .map(tokio::fs::File::from_std)
                });
            let req = self
                .request(Method::PUT, path)
                .header("x-checksum-sha256", &sha256_hex)
                .header(reqwest::header::CONTENT_LENGTH, len);
            match f {
                Some(f) => req.body(counted(f, sent.clone())),
                None => req.body(Vec::new()),
            }
        };
        *opened.lock().unwrap_or_else(|e| e.into_inner()) = Some(
            tokio::fs::File::open(&file)
                .await
                .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?,
        );
        self.send(build).await.map(drop)
    }

    /// Uploads a local file through a resumable upload at `uploads` (the
    /// version's uploads path): each attempt appends from the offset the registry has
    /// committed, so an interrupted transfer goes on from there. Five attempts
    /// in a row without progress end it; any progress starts the count again.
    /// An upload an earlier run recorded in `journal` goes on where it is.
    pub async fn upload_resumable(
        &self,
        uploads: &str,
        name: &str,
        file: &std::path::Path,
        bar: &progress::FileBar,
        journal: &journal::Journal,
    ) -> Result<crate::names::Sha256, Failure> {
        let size = std::fs::metadata(file)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?
            .len();
        let (url, mut offset) = self.upload_session(uploads, name, size, journal).await?;
        bar.rewind_to(offset);
        let hash = std::sync::Arc::new(SentHash::default());
        let mut delays = backon::BackoffBuilder::build(backoff());
        while offset < size {
            let failed = match self.append(&url, file, offset, size, bar, &hash).await {
                Ok(reached) if reached > offset => {
                    offset = reached;
                    delays = backon::BackoffBuilder::build(backoff());
                    continue;
                }
                // An answer without progress: ask where the upload is.
                Ok(_) => None,
                Err(a)
                    if a.transient
                        || a.failure.code.as_deref() == Some("upload_offset_mismatch") =>
                {
                    Some(a)
                }
                Err(a) => return Err(a.failure),
            };
            let Some(delay) = delays.next() else {
                return Err(failed.map_or_else(
                    || {
                        Failure::new(
                            Exit::Failure,
                            format!("{name}: the upload makes no progress"),
                        )
                    },
                    |a| a.failure,
                ));
            };
            tokio::time::sleep(failed.and_then(|a| a.retry_after).unwrap_or(delay)).await;
            let now: UploadView = self.get(&url).await?;
            offset = u64::try_from(now.offset)
                .map_err(|_| Failure::new(Exit::Failure, "the registry gave no upload offset"))?;
            bar.rewind_to(offset);
        }
        // Bytes an earlier run sent and none of this run's attempts did (the
        // upload was complete when this run found it).
        let digest = hash
            .catch_up(file, size)
            .await
            .and_then(|()| hash.digest(size))
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", file.display())))?;
        let done = CompleteUpload { sha256: digest };
        let _: FileView = self
            .exchange(Method::POST, &format!("{url}/complete"), Some(&done))
            .await?;
        Ok(digest)
    }

    /// The upload an earlier run recorded in `journal` for this file, where it
    /// is, if it is still open for these bytes; else a new one. Answers its URL
    /// and committed offset.
    async fn upload_session(
        &self,
        uploads: &str,
        name: &str,
        size: u64,
        journal: &journal::Journal,
    ) -> Result<(String, u64), Failure> {
        if let Some(url) = journal.upload(name)
            && let Ok(u) = self.get::<UploadView>(&url).await
            && !u.complete
            && u64::try_from(u.size) == Ok(size)
            && let Ok(offset) = u64::try_from(u.offset)
        {
            return Ok((url, offset));
        }
        // None, or gone (expired, or another version's): start again.
        let start = StartUpload {
            path: NewFilePath::parse(name).map_err(|e| Failure::usage(format!("{name}: {e}")))?,
            size,
        };
        let started: UploadView = self.exchange(Method::POST, uploads, Some(&start)).await?;
        let url = format!("{uploads}/{}", started.id);
        journal.record_upload(name, &url)?;
        Ok((url, 0))
    }

    /// One append of the file from `offset` to its end; answers the offset
    /// the registry committed.
    async fn append(
        &self,
        url: &str,
        file: &std::path::Path,
        offset: u64,
        size: u64,
        bar: &progress::FileBar,
        hash: &std::sync::Arc<SentHash>,
    ) -> Result<u64, Attempt> {
        use futures::StreamExt;
        use tokio::io::AsyncSeekExt;
        let local = |e: std::io::Error| Attempt {
            failure: Failure::new(Exit::Failure, format!("{}: {e}", file.display())),
            transient: false,
            retry_after: None,
        };
        // What an earlier run sent is hashed here before this attempt goes on.
        hash.catch_up(file, offset).await.map_err(local)?;
        let mut f = tokio::fs::File::open(file).await.map_err(local)?;
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(local)?;
        let moved = bar.clone();
        let (hash, mut at) = (hash.clone(), offset);
        // Every byte is hashed the first time it leaves: the digest is ready
        // when the last part is sent, with no pass over the file of its own.
        let chunks = tokio_util::io::ReaderStream::with_capacity(f, 256 << 10).inspect(move |c| {
            if let Ok(c) = c {
                hash.sent(at, c);
                at += c.len() as u64;
                moved.advance(c.len() as u64);
            }
        });
        let req = self
            .request(Method::PATCH, url)
            .header("upload-offset", offset)
            .header(reqwest::header::CONTENT_LENGTH, size - offset)
            .body(reqwest::Body::wrap_stream(chunks));
        let resp = self.attempt(req).await?;
        let upload: UploadView = resp.json().await.map_err(|e| Attempt {
            failure: Failure::new(Exit::Failure, format!("reading the answer: {e}")),
            transient: true,
            retry_after: None,
        })?;
        Ok(u64::try_from(upload.offset).unwrap_or(offset))
    }
}

/// The SHA-256 of a file computed as it is uploaded: the bytes of the first
/// `hashed` positions, whichever attempts sent them.
#[derive(Default)]
pub struct SentHash(std::sync::Mutex<(sha2::Sha256, u64)>);

impl SentHash {
    fn state(&self) -> std::sync::MutexGuard<'_, (sha2::Sha256, u64)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `chunk`, the bytes at `at`, left: what of it was not hashed yet is.
    fn sent(&self, at: u64, chunk: &[u8]) {
        use sha2::Digest;
        let mut s = self.state();
        let end = at + chunk.len() as u64;
        if at <= s.1 && end > s.1 {
            let new = usize::try_from(s.1 - at).expect("within a chunk");
            s.0.update(&chunk[new..]);
            s.1 = end;
        }
    }

    /// Hashes the bytes of `file` before `offset` that no attempt sent (an
    /// earlier run did).
    async fn catch_up(&self, file: &std::path::Path, offset: u64) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let (mut state, from) = self.state().clone();
        if from >= offset {
            return Ok(());
        }
        let file = file.to_owned();
        let state = tokio::task::spawn_blocking(move || {
            use sha2::Digest;
            let mut f = std::fs::File::open(&file)?;
            f.seek(std::io::SeekFrom::Start(from))?;
            let mut rest = f.take(offset - from);
            let mut buf = vec![0u8; 1 << 20];
            let mut read = 0;
            loop {
                let n = rest.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                state.update(&buf[..n]);
                read += n as u64;
            }
            if read != offset - from {
                return Err(std::io::Error::other("the file became shorter"));
            }
            Ok(state)
        })
        .await
        .map_err(std::io::Error::other)??;
        *self.state() = (state, offset);
        Ok(())
    }

    /// The digest, once all `size` bytes are hashed.
    fn digest(&self, size: u64) -> std::io::Result<crate::names::Sha256> {
        use sha2::Digest;
        let s = self.state();
        if s.1 != size {
            return Err(std::io::Error::other("the file changed while it was sent"));
        }
        Ok(crate::names::Sha256::from_bytes(
            s.0.clone().finalize().into(),
        ))
    }
}

/// A file's bytes as a request body, counted by `sent` as they are handed to
/// the connection.
pub(super) fn counted(
    f: tokio::fs::File,
    sent: impl Fn(u64) + Send + Sync + 'static,
) -> reqwest::Body {
    use futures::StreamExt;
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 256 << 10).inspect(move |c| {
        if let Ok(c) = c {
            sent(c.len() as u64);
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// The delays between attempts: exponential from 250 ms, with jitter, five
/// attempts in all.
pub(super) fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(250))
        .with_max_times(4)
        .with_jitter()
}

/// What a transport error comes down to (`connection refused`, `timed out`,
/// a certificate the system does not trust), without the URL (which may carry
/// a query) repeated.
pub(super) fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    // The innermost cause says what happened; the outer layers only that a
    // request failed.
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let mut s = cause.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "");
    }
    let s = s.trim().trim_start_matches("for ").trim();
    match s {
        "" => "the connection failed".to_owned(),
        s => s.to_owned(),
    }
}

/// The failure an error answer means (its body, if it is the error envelope).
pub(super) fn failure_of(status: u16, body: &[u8]) -> Failure {
    let err = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let code = err.as_ref().map(|e| e.code.clone());
    let exit = match (status, code.as_deref()) {
        (
            _,
            Some("promotion_refused" | "quarantined" | "version_not_verified" | "lineage_mismatch"),
        ) => Exit::RefusedByPolicy,
        (_, Some(c)) if is_signature_rejection(c) => Exit::VerificationFailed,
        // The registry's own stored bytes fail their check: not a network fault.
        (_, Some("integrity_failure")) => Exit::VerificationFailed,
        (401 | 403 | 404, _) => Exit::NotFoundOrDenied,
        _ => Exit::Failure,
    };
    Failure {
        exit,
        message: err.as_ref().map_or_else(
            || format!("the registry answered {status}"),
            |e| e.message.clone(),
        ),
        code,
        reasons: err.as_ref().map(|e| e.reasons.clone()).unwrap_or_default(),
        details: err.map(|e| e.details).unwrap_or_default(),
    }
}

/// Whether `code` is one with which the registry refuses a signature (the
/// verifier's own rejection codes).
pub(super) fn is_signature_rejection(code: &str) -> bool {
    crate::signing::verify::Rejection::ALL
        .iter()
        .any(|r| r.code() == code)
}

//! One delivery attempt: a signed POST to a checked target, through a client
//! that connects only to addresses the policy admitted, follows no redirect,
//! uses no proxy and gives up after the attempt's timeout. What the receiver
//! answered is kept as its status and a short, escaped excerpt of its body,
//! never more.

use std::time::{Duration, Instant};

use futures::StreamExt as _;

use super::guard::Policy;
use super::signature::Secret;
use crate::error::{Error, Result};

/// Most bytes of a receiver's answer kept (before escaping).
pub const EXCERPT_BYTES: usize = 256;
/// The content type of a CloudEvent in structured mode.
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// A message to deliver: its id (`webhook-id`, the same at every attempt),
/// when it was made (`webhook-timestamp` is when it is sent) and its body.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: Vec<u8>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub duration: Duration,
    /// The start of its answer's body, escaped ([`EXCERPT_BYTES`] at most).
    pub excerpt: String,
    /// Why there was no answer, or why the answer is a failure.
    pub error: Option<String>,
}

impl Attempt {
    /// A 2xx answer is a delivery; anything else is tried again.
    pub fn delivered(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

/// Delivers messages under a policy.
pub struct Deliverer {
    http: reqwest::Client,
    policy: Policy,
}

impl Deliverer {
    /// `roots`: certificates (PEM) trusted beside the system's, for receivers
    /// under a private authority.
    pub fn new(policy: Policy, timeout: Duration, roots: &[Vec<u8>]) -> Result<Self> {
        let mut certs = Vec::new();
        for pem in roots {
            certs.extend(reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Error::invalid(format!("webhook roots: not PEM certificates ({e})"))
            })?);
        }
        let http = reqwest::Client::builder()
            .dns_resolver(policy.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("Signet-Webhooks/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(certs)
            .build()
            .map_err(Error::internal)?;
        Ok(Self { http, policy })
    }

    /// One attempt to deliver `msg` to `url`, signed with `secret` at `now`
    /// (Unix seconds). The URL is checked again first: the policy may have
    /// changed since it was accepted.
    pub async fn attempt(&self, url: &str, secret: &Secret, msg: &Message, now: i64) -> Attempt {
        let started = Instant::now();
        let failed = |error: String| Attempt {
            status: None,
            duration: started.elapsed(),
            excerpt: String::new(),
            error: Some(error),
        };
        let target = match self.policy.target(url) {
            Ok(t) => t,
            Err(e) => return failed(e.to_string()),
        };
        let sent = self
            .http
            .post(target.url)
            .header("content-type", CONTENT_TYPE)
            .header("webhook-id", &msg.id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", secret.sign(&msg.id, now, &msg.body))
            .body(msg.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let excerpt = excerpt(response).await;
        Attempt {
            status: Some(status),
            duration: started.elapsed(),
            error: match status {
                200..=299 => None,
                300..=399 => Some(format!("answered {status}: redirects are not followed")),
                _ => Some(format!("answered {status}")),
            },
            excerpt,
        }
    }
}

/// Why a request got no answer, in words that name no internal detail
/// beyond the policy's own refusal.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    if e.is_timeout() {
        return "no answer within the attempt's timeout".into();
    }
    // The policy's refusal is the resolver's error, somewhere in the chain.
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Error>() {
            return refused.to_string();
        }
        source = s.source();
    }
    if e.is_connect() {
        return "could not connect (refused, unreachable, or the TLS handshake failed)".into();
    }
    "the request failed before an answer".into()
}

/// The start of an answer's body, escaped so it shows as one line of text.
async fn excerpt(response: reqwest::Response) -> String {
    let mut kept = Vec::with_capacity(EXCERPT_BYTES);
    let mut body = response.bytes_stream();
    while kept.len() < EXCERPT_BYTES {
        match body.next().await {
            Some(Ok(chunk)) => {
                let room = EXCERPT_BYTES - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).escape_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::guard::Allow;

    fn message() -> Message {
        Message {
            id: "msg_1".into(),
            body: br#"{"specversion":"1.0"}"#.to_vec(),
        }
    }

    /// A receiver on loopback that answers every connection with `answer`
    /// and hands back what it was sent.
    async fn receiver(answer: &'static str) -> (u16, tokio::sync::mpsc::Receiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                // Headers, then the declared body.
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len || n == 0 {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&got).to_string()).await;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        (port, rx)
    }

    fn deliverer(allow: &str) -> Deliverer {
        Deliverer::new(
            Policy::new(Allow::parse(allow).unwrap()),
            Duration::from_secs(5),
            &[],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_when_connecting() {
        // `localhost` passes the URL's check (a name), and is refused when
        // resolved: nothing reaches the receiver.
        let (port, mut seen) = receiver("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let d = deliverer("");
        let secret = Secret::generate().unwrap();
        let a = d
            .attempt(
                &format!("https://localhost:{port}/hook"),
                &secret,
                &message(),
                1,
            )
            .await;
        assert!(!a.delivered());
        let error = a.error.unwrap();
        assert!(error.contains("localhost resolves to"), "{error}");
        assert!(error.contains("loopback"), "{error}");
        assert!(seen.try_recv().is_err(), "the receiver was reached");
        // A literal loopback address is refused before any connection.
        let a = d
            .attempt(
                &format!("https://127.0.0.1:{port}/hook"),
                &secret,
                &message(),
                1,
            )
            .await;
        assert!(a.error.unwrap().contains("loopback"));
        assert!(seen.try_recv().is_err(), "the receiver was reached");
    }

    #[tokio::test]
    async fn an_allowed_receiver_gets_a_signed_message_and_a_redirect_is_not_followed() {
        let (port, mut seen) =
            receiver("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nthanks")
                .await;
        let d = deliverer("127.0.0.0/8");
        let secret = Secret::generate().unwrap();
        let a = d
            .attempt(
                &format!("http://127.0.0.1:{port}/hook"),
                &secret,
                &message(),
                1_700_000_000,
            )
            .await;
        assert!(a.delivered(), "{a:?}");
        let sent = seen.recv().await.unwrap();
        let lower = sent.to_ascii_lowercase();
        assert!(lower.contains("webhook-id: msg_1"), "{sent}");
        assert!(lower.contains("webhook-timestamp: 1700000000"), "{sent}");
        let expected = secret.sign("msg_1", 1_700_000_000, &message().body);
        assert!(sent.contains(&expected), "{sent}");
        assert!(sent.ends_with(r#"{"specversion":"1.0"}"#), "{sent}");

        let (port, mut seen) = receiver(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/latest\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let a = d
            .attempt(
                &format!("http://127.0.0.1:{port}/hook"),
                &secret,
                &message(),
                1,
            )
            .await;
        assert_eq!(a.status, Some(307));
        assert!(!a.delivered());
        assert!(a.error.unwrap().contains("redirects are not followed"));
        assert!(seen.recv().await.is_some());
        assert!(seen.try_recv().is_err(), "one request only");
    }

    #[tokio::test]
    async fn a_receivers_answer_is_kept_short_and_escaped() {
        let (port, _seen) = receiver(
            "HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\n\u{1b}[31m<script>\nstack trace line one\r\nsecret=hunter2 ...................................................................................................................................................................................................................................................................................................................................end",
        )
        .await;
        let d = deliverer("127.0.0.1");
        let a = d
            .attempt(
                &format!("http://127.0.0.1:{port}/"),
                &Secret::generate().unwrap(),
                &message(),
                1,
            )
            .await;
        assert_eq!(a.status, Some(500));
        assert!(!a.excerpt.contains('\n') && !a.excerpt.contains('\u{1b}'));
        assert!(
            a.excerpt.contains("\\u{1b}[31m<script>\\n"),
            "{}",
            a.excerpt
        );
        assert!(!a.excerpt.contains("end"), "{}", a.excerpt);
    }
}

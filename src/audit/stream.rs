//! The access log streamed to a SIEM (`SIGNET_AUDIT_STREAM`): every event,
//! in chain order, as OCSF API Activity, to syslog (RFC 5424 over TCP,
//! octet-counted as RFC 6587 gives it, optionally over TLS) or to an HTTP
//! event collector
//! (Splunk HEC's event format). The position is kept in the database per
//! destination, so a restart or another replica goes on from the last
//! delivered event: at least once, in order, nothing lost. One replica
//! streams at a time (a lease it renews every turn). The stream only reads
//! the log: a destination that is down or slow never holds a request up;
//! its lag and errors are metrics.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ocsf;
use crate::chain::ChainedEvent;
use crate::error::{Error, Result};
use crate::store::{AuditLog, AuditStreams};

/// Events sent in one turn, at most.
const BATCH: i64 = 500;
/// How long a replica's hold on the stream lasts without a turn.
const LEASE: Duration = Duration::from_secs(30);
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the stream goes.
#[derive(Clone)]
pub enum Destination {
    /// `syslog+tcp://host:port`, or `syslog+tls://` with the connector that
    /// checks the receiver's certificate.
    Syslog {
        host: String,
        port: u16,
        tls: Option<tokio_rustls::TlsConnector>,
    },
    /// `http(s)://…`: an HTTP event collector, with its token and the
    /// certificates (PEM) trusted beside the platform's.
    Collector {
        url: url::Url,
        token: Option<String>,
        roots: Option<Vec<u8>>,
    },
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

impl Destination {
    /// `SIGNET_AUDIT_STREAM`'s value, with the collector's token (from
    /// `SIGNET_AUDIT_STREAM_TOKEN_FILE`) and the certificates a TLS receiver
    /// is checked against (`SIGNET_AUDIT_STREAM_CA_FILE`; else the
    /// platform's).
    pub fn parse(raw: &str, token: Option<String>, roots: Option<&[u8]>) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "SIGNET_AUDIT_STREAM: {why} (syslog+tcp://HOST:PORT, syslog+tls://HOST:PORT or \
                 an http(s) collector URL)"
            ))
        };
        let url = url::Url::parse(raw).map_err(|_| bad("not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials in the URL; give a collector's token with \
                 SIGNET_AUDIT_STREAM_TOKEN_FILE",
            ));
        }
        match url.scheme() {
            scheme @ ("syslog+tcp" | "syslog+tls") => {
                let host = url.host_str().ok_or_else(|| bad("no host"))?;
                let port = url.port().ok_or_else(|| bad("no port"))?;
                let tls = match scheme {
                    "syslog+tls" => Some(connector(roots)?),
                    _ => None,
                };
                Ok(Self::Syslog {
                    host: host.trim_matches(['[', ']']).to_owned(),
                    port,
                    tls,
                })
            }
            "http" | "https" => Ok(Self::Collector {
                url,
                token,
                roots: roots.map(<[u8]>::to_vec),
            }),
            other => Err(bad(&format!("scheme {other}"))),
        }
    }

    /// The name its position is kept under (never a credential).
    pub fn key(&self) -> String {
        match self {
            Self::Syslog { host, port, tls } => {
                let scheme = if tls.is_some() { "tls" } else { "tcp" };
                format!("syslog+{scheme}://{host}:{port}")
            }
            Self::Collector { url, .. } => url.to_string(),
        }
    }
}

/// The stream of one registry to one destination.
pub struct AuditStream {
    events: Arc<dyn AuditLog>,
    streams: Arc<dyn AuditStreams>,
    destination: Destination,
    /// The destination's name: its position's key and its metrics' label.
    key: String,
    /// This replica, as the lease names it.
    owner: String,
    /// The registry's name: syslog's HOSTNAME, the collector's `host`.
    registry: String,
    http: reqwest::Client,
}

impl AuditStream {
    pub fn new(
        events: Arc<dyn AuditLog>,
        streams: Arc<dyn AuditStreams>,
        destination: Destination,
        registry: String,
    ) -> Result<Self> {
        let mut certs = Vec::new();
        if let Destination::Collector {
            roots: Some(pem), ..
        } = &destination
        {
            certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| Error::invalid("SIGNET_AUDIT_STREAM_CA_FILE: not PEM certificates"))?;
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(certs)
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            events,
            streams,
            key: destination.key(),
            destination,
            owner: uuid::Uuid::now_v7().to_string(),
            registry,
            http,
        })
    }

    /// Streams until the last holder of `self` is gone (the service
    /// stopped), then gives up the lease so another replica goes on at once.
    pub fn spawn(self: &Arc<Self>) {
        let (streams, key, owner) = (self.streams.clone(), self.key.clone(), self.owner.clone());
        super::turns::spawn_turns(
            self,
            |s| Box::pin(s.turn()),
            |s, e| {
                crate::metrics::audit_stream_error(&s.key);
                tracing::warn!(error = %e, "audit stream: delivery failed; trying again");
            },
            move || {
                Box::pin(async move {
                    let _ = streams.release_stream(&key, &owner).await;
                })
            },
        );
    }

    /// One turn: takes the lease, sends the next batch, records the
    /// position. Whether more events wait.
    pub async fn turn(&self) -> Result<bool> {
        let key = &self.key;
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).map_err(Error::internal)?;
        let Some(position) = self
            .streams
            .lease_stream(key, &self.owner, now, until)
            .await?
        else {
            return Ok(false);
        };
        let events = self.events.audit_after(position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.event.seq) else {
            crate::metrics::audit_stream(key, 0, 0);
            return Ok(false);
        };
        tokio::time::timeout(TIMEOUT, self.send(&events))
            .await
            .map_err(|_| unavailable("the destination did not take the events in time"))??;
        if !self.streams.advance_stream(key, &self.owner, last).await? {
            // Another replica took over meanwhile: it sends from where it
            // found the stream (at least once).
            return Ok(false);
        }
        // Less than a batch read the log to its end; only a full one asks
        // how far the head is.
        let more = events.len() as i64 == BATCH;
        let lag = match more {
            true => self.events.audit_head().await?.seq - last,
            false => 0,
        };
        crate::metrics::audit_stream(key, events.len(), lag);
        Ok(more)
    }

    async fn send(&self, events: &[ChainedEvent]) -> Result<()> {
        match &self.destination {
            Destination::Syslog { host, port, tls } => {
                let mut frames = Vec::new();
                for e in events {
                    let msg = syslog_message(e, &self.registry);
                    frames.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                    frames.extend_from_slice(msg.as_bytes());
                }
                send_tcp(host, *port, tls.as_ref(), &frames).await
            }
            Destination::Collector { url, token, .. } => {
                let mut body = Vec::new();
                for e in events {
                    serde_json::to_writer(&mut body, &collector_event(e, &self.registry))
                        .map_err(Error::internal)?;
                    body.push(b'\n');
                }
                let mut req = self.http.post(url.clone()).body(body);
                if let Some(t) = token {
                    req = req.header("authorization", format!("Splunk {t}"));
                }
                let r = req
                    .send()
                    .await
                    .map_err(|_| unavailable("the collector could not be reached"))?;
                match r.status().is_success() {
                    true => Ok(()),
                    false => Err(unavailable(&format!(
                        "the collector answered {}",
                        r.status().as_u16()
                    ))),
                }
            }
        }
    }
}

fn unavailable(why: &str) -> Error {
    Error::Unavailable(anyhow::anyhow!("audit stream: {why}"))
}

/// The TLS connector of a syslog receiver: its certificate is checked
/// against `roots` (PEM), else the platform's roots.
fn connector(roots: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|_| {
                    Error::invalid("SIGNET_AUDIT_STREAM_CA_FILE: not PEM certificates")
                })?;
                store
                    .add(cert)
                    .map_err(|e| Error::invalid(format!("SIGNET_AUDIT_STREAM_CA_FILE: {e}")))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
        }
    }
    if store.is_empty() {
        return Err(Error::invalid(
            "syslog+tls needs root certificates: SIGNET_AUDIT_STREAM_CA_FILE holds none, or \
             the platform has none",
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::internal)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Sends the frames on a connection of their own (TLS with `tls`), then
/// closes its side and waits for the receiver to close: the receiver has
/// read everything sent (syslog over TCP has no acknowledgement of its own).
async fn send_tcp(
    host: &str,
    port: u16,
    tls: Option<&tokio_rustls::TlsConnector>,
    frames: &[u8],
) -> Result<()> {
    let conn = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|_| unavailable("the syslog receiver could not be reached"))?;
    let Some(tls) = tls else {
        return exchange(conn, frames).await;
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| unavailable("the syslog receiver's host is not a TLS server name"))?;
    let conn = tls.connect(name, conn).await.map_err(|_| {
        unavailable("the TLS handshake with the syslog receiver failed (its certificate?)")
    })?;
    exchange(conn, frames).await
}

async fn exchange<S>(mut conn: S, frames: &[u8]) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    conn.write_all(frames)
        .await
        .map_err(|_| unavailable("the syslog receiver closed the connection"))?;
    conn.shutdown()
        .await
        .map_err(|_| unavailable("the syslog receiver closed the connection"))?;
    let mut rest = [0u8; 256];
    loop {
        match conn.read(&mut rest).await {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            // A receiver that closes without TLS's close_notify has still
            // read everything before it closed.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(_) => return Err(unavailable("the syslog connection was reset")),
        }
    }
}

/// An RFC 5424 message: facility 13 (log audit), severity by outcome,
/// the registry as HOSTNAME, `signet` as APP-NAME, `audit` as MSGID, the
/// OCSF object as MSG.
pub fn syslog_message(e: &ChainedEvent, registry: &str) -> String {
    use crate::kinds::Outcome;
    let severity = match e.event.outcome {
        // An alert on extraction-like access: a warning.
        _ if e.event.action == super::ALERT_ACTION => 4,
        Outcome::Allowed => 6,
        Outcome::Refused => 5,
        Outcome::Denied => 4,
        Outcome::Error => 3,
    };
    let host: String = registry
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    format!(
        "<{}>1 {} {} signet - audit - {}",
        13 * 8 + severity,
        e.event.at,
        if host.is_empty() { "-" } else { &host },
        ocsf::api_activity(e, registry)
    )
}

/// An event in Splunk HEC's format.
pub fn collector_event(e: &ChainedEvent, registry: &str) -> serde_json::Value {
    let time = chrono::DateTime::parse_from_rfc3339(&e.event.at)
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .unwrap_or_default();
    serde_json::json!({
        "time": time,
        "host": registry,
        "source": "signet",
        "sourcetype": "ocsf:api_activity",
        "event": ocsf::api_activity(e, registry),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_parsed_and_named_without_credentials() {
        let d = Destination::parse("syslog+tcp://127.0.0.1:6514", None, None).unwrap();
        assert_eq!(d.key(), "syslog+tcp://127.0.0.1:6514");
        let d = Destination::parse(
            "https://splunk.example/services/collector/event",
            Some("t".into()),
            None,
        )
        .unwrap();
        assert_eq!(d.key(), "https://splunk.example/services/collector/event");
        for (raw, says) in [
            ("syslog+tcp://127.0.0.1", "no port"),
            ("https://u:p@splunk.example/", "credentials"),
            ("ftp://x/", "scheme ftp"),
            ("nonsense", "not a URL"),
        ] {
            let e = Destination::parse(raw, None, None).unwrap_err().to_string();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }
}

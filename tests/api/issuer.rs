//! A test identity provider, as an outside party runs one: OpenID Connect
//! discovery and a key set served over HTTPS (its own certificate
//! authority), and identity tokens signed with real RS256 and ES256 keys,
//! claims as GitHub Actions writes them. It can rotate its keys, go silent
//! and count the fetches of its key set; it also forges what attackers send.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::transport::{Ca, openssl};

pub const SHA: &str = "4d3c2b1a00112233445566778899aabbccddeeff";
pub const OTHER_SHA: &str = "ffeeddccbbaa99887766554433221100a1b2c3d4";

/// A signing key of the issuer.
pub struct Key {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
    /// Its public key in PEM (what an algorithm-confusion attack signs with).
    pub public_pem: Vec<u8>,
}

impl Key {
    /// A fresh key: `rsa` (RS256, 2048 bits) or `ec` (ES256, P-256).
    pub fn generate(dir: &std::path::Path, kid: &str, alg: Algorithm) -> Self {
        let private = dir.join(format!("{kid}.key"));
        let public = dir.join(format!("{kid}.pub"));
        let spec = match alg {
            Algorithm::RS256 => "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
            Algorithm::ES256 => "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
            other => panic!("no test key for {other:?}"),
        };
        openssl(&format!("genpkey {spec} -out {}", private.display()));
        openssl(&format!(
            "pkey -in {} -pubout -out {}",
            private.display(),
            public.display()
        ));
        let pem = std::fs::read(&private).unwrap();
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
            public_pem: std::fs::read(&public).unwrap(),
        }
    }

    /// A token of `claims` signed with this key, naming `kid` in its header.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

#[derive(Default)]
struct Published {
    keys: Vec<Jwk>,
    jwks_fetches: usize,
    algorithms: Vec<&'static str>,
}

/// The running identity provider.
pub struct Issuer {
    /// Its issuer URL, exactly as its tokens' `iss` reads.
    pub url: String,
    /// The certificate of the authority that signed its TLS certificate.
    pub ca_file: PathBuf,
    pub rsa: Key,
    pub ec: Key,
    published: Arc<Mutex<Published>>,
    _dir: tempfile::TempDir,
}

impl Issuer {
    /// Serves discovery and a key set holding its RS256 and ES256 keys.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "issuer-ca");
        let (cert, key) = ca.issue(1);
        let rsa = Key::generate(dir.path(), "rsa-1", Algorithm::RS256);
        let ec = Key::generate(dir.path(), "ec-1", Algorithm::ES256);
        let published = Arc::new(Mutex::new(Published {
            keys: vec![rsa.jwk.clone(), ec.jwk.clone()],
            jwks_fetches: 0,
            algorithms: vec!["RS256", "ES256"],
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/keys", get(keys))
            .with_state((published.clone(), url.clone()));
        let acceptor = signet::tls::ReloadingCert::load(&cert, &key)
            .unwrap()
            .acceptor()
            .unwrap();
        tokio::spawn(serve_tls(listener, acceptor, app));
        Self {
            url,
            ca_file: ca.pem_path(),
            rsa,
            ec,
            published,
            _dir: dir,
        }
    }

    /// Publishes exactly these keys from now on (a rotation).
    pub fn publish_only(&self, keys: &[&Key]) {
        self.published.lock().unwrap().keys = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.published.lock().unwrap().jwks_fetches
    }

    /// Claims as GitHub Actions writes them for `acme/train` on `main`, in
    /// environment `production`, at commit [`SHA`], valid from now for 5 min.
    pub fn github_claims(&self) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.url,
            "aud": "signet",
            "sub": "repo:acme/train:environment:production",
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "nbf": now, "exp": now + 300,
            "repository": "acme/train",
            "repository_owner": "acme",
            "repository_owner_id": "4242",
            "repository_id": "777",
            "workflow_ref": "acme/train/.github/workflows/train.yml@refs/heads/main",
            "ref": "refs/heads/main",
            "environment": "production",
            "sha": SHA,
            "run_id": "9001",
            "run_attempt": "2",
            "actor": "alice",
        })
    }

    /// A good identity token with `changes` merged into its claims (a null
    /// removes one).
    pub fn token_with(&self, changes: Value) -> String {
        let mut claims = self.github_claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        self.rsa.sign(&claims)
    }

    pub fn token(&self) -> String {
        self.token_with(json!({}))
    }
}

async fn discovery(
    State((published, url)): State<(Arc<Mutex<Published>>, String)>,
) -> axum::Json<Value> {
    let algorithms = published.lock().unwrap().algorithms.clone();
    axum::Json(json!({
        "issuer": url,
        "jwks_uri": format!("{url}/keys"),
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
        "id_token_signing_alg_values_supported": algorithms,
    }))
}

async fn keys(State((published, _)): State<(Arc<Mutex<Published>>, String)>) -> axum::Json<JwkSet> {
    let mut p = published.lock().unwrap();
    p.jwks_fetches += 1;
    axum::Json(JwkSet {
        keys: p.keys.clone(),
    })
}

/// Serves `app` over TLS on `listener` until the test ends.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
        });
    }
}

/// Base64url without padding, as JWTs encode their parts.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An unsigned token (`alg: none`) of these claims.
pub fn unsigned(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// A token of these claims "signed" with HS256 using `secret` (the
/// issuer's public key, in the classic algorithm confusion).
pub fn hmac_signed(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// `token` with its payload replaced by these claims, the signature kept.
pub fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    )
}

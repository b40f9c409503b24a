//! Each accepted issuer's signing keys: found through its discovery document
//! (`/.well-known/openid-configuration`), fetched over HTTPS only, kept by
//! `kid` for a while, and fetched again at most once a minute when a token
//! names a key that is not kept (a rotation at the issuer). A fetch replaces
//! the whole set, so a key the issuer dropped stops verifying.

use std::collections::HashMap;
use std::time::Instant;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::{Failure, Issuers, Refusal, Result};

/// Most keys kept of one issuer's set, and the largest document read.
const MAX_KEYS: usize = 64;
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// One issuer's keys as last fetched.
#[derive(Default)]
struct Kept {
    /// `kid` → the key and the algorithms it verifies.
    keys: HashMap<String, (DecodingKey, Vec<Algorithm>)>,
    /// Algorithms the issuer announces for identity tokens.
    announced: Vec<Algorithm>,
    fetched: Option<Instant>,
    /// The last fetch a `kid` not kept caused.
    tried: Option<Instant>,
}

pub struct KeyCache {
    http: reqwest::Client,
    cfg: Issuers,
    kept: HashMap<String, tokio::sync::Mutex<Kept>>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Option<Vec<String>>,
}

impl KeyCache {
    pub fn new(cfg: &Issuers) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.timeout)
            .timeout(cfg.timeout);
        if let Some(pem) = &cfg.extra_roots {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the extra roots are not PEM certificates: {e}"))?;
            b = b.tls_certs_merge(roots);
        }
        let http = b.build().map_err(|e| e.to_string())?;
        let kept = cfg
            .urls
            .iter()
            .map(|u| (u.clone(), tokio::sync::Mutex::default()))
            .collect();
        Ok(Self {
            http,
            cfg: cfg.clone(),
            kept,
        })
    }

    /// The key `kid` of `issuer` for a token signed with `alg`: from what is
    /// kept while it is fresh, else after a fetch (at most one a minute for a
    /// `kid` not kept). A key that is not in the issuer's set, or does not
    /// verify `alg`, or an `alg` the issuer does not announce, is a
    /// signature refusal; an issuer that cannot be reached, unavailable.
    pub async fn key(&self, issuer: &str, kid: &str, alg: Algorithm) -> Result<DecodingKey> {
        let Some(slot) = self.kept.get(issuer) else {
            return Err(Refusal::Issuer("the issuer is not accepted here".into()).into());
        };
        let mut kept = slot.lock().await;
        let fresh = kept
            .fetched
            .is_some_and(|t| t.elapsed() < self.cfg.keys_live);
        let unknown = !kept.keys.contains_key(kid)
            && kept
                .tried
                .is_none_or(|t| t.elapsed() >= self.cfg.refresh_after);
        if !fresh || unknown {
            // Only a fetch an unknown kid caused counts against the minute,
            // and it counts even when it fails.
            let tried = match fresh {
                true => Some(Instant::now()),
                false => kept.tried,
            };
            kept.tried = tried;
            *kept = Kept {
                tried,
                ..self.fetch(issuer).await?
            };
        }
        if !kept.announced.contains(&alg) {
            return Err(Refusal::Signature(format!(
                "the issuer does not sign identity tokens with {alg:?}"
            ))
            .into());
        }
        match kept.keys.get(kid) {
            Some((key, algs)) if algs.contains(&alg) => Ok(key.clone()),
            Some(_) => {
                Err(Refusal::Signature(format!("key {kid:?} does not sign with {alg:?}")).into())
            }
            None => Err(Refusal::Signature(format!(
                "key {kid:?} is not one of the issuer's published keys"
            ))
            .into()),
        }
    }

    /// The issuer's discovery document, then its key set.
    async fn fetch(&self, issuer: &str) -> Result<Kept> {
        let unavailable = |why: String| {
            tracing::warn!(issuer, why, "OIDC issuer unavailable");
            Failure::Unavailable(issuer.to_owned())
        };
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let d: Discovery = self.get_json(&url).await.map_err(unavailable)?;
        if d.issuer != issuer {
            return Err(unavailable(format!(
                "its discovery document names issuer {:?}",
                d.issuer
            )));
        }
        if !d.jwks_uri.starts_with("https://") {
            return Err(unavailable("its jwks_uri is not https".into()));
        }
        let set: JwkSet = self.get_json(&d.jwks_uri).await.map_err(unavailable)?;
        let announced = d
            .id_token_signing_alg_values_supported
            .unwrap_or_else(|| vec!["RS256".into()])
            .iter()
            .filter_map(|a| a.parse::<Algorithm>().ok())
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let algs = algorithms_of(jwk);
                let key = DecodingKey::from_jwk(jwk).ok()?;
                (!algs.is_empty()).then_some((kid, (key, algs)))
            })
            .take(MAX_KEYS)
            .collect();
        Ok(Kept {
            keys,
            announced,
            fetched: Some(Instant::now()),
            tried: None,
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let r = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url} answered {}", r.status()));
        }
        if r.content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!("{url}: the document is too large"));
        }
        let body = r.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{url}: the document is too large"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

/// The asymmetric algorithms a published key verifies: the one it states
/// (`alg`), or else those of its type and curve. Symmetric (`oct`) keys
/// verify nothing.
fn algorithms_of(jwk: &jsonwebtoken::jwk::Jwk) -> Vec<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => vec![],
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => vec![],
    };
    match jwk.common.key_algorithm {
        None => by_type,
        Some(stated) => by_type
            .into_iter()
            .filter(|a| key_algorithm(*a) == Some(stated))
            .collect(),
    }
}

fn key_algorithm(a: Algorithm) -> Option<KeyAlgorithm> {
    Some(match a {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::RS384 => KeyAlgorithm::RS384,
        Algorithm::RS512 => KeyAlgorithm::RS512,
        Algorithm::PS256 => KeyAlgorithm::PS256,
        Algorithm::PS384 => KeyAlgorithm::PS384,
        Algorithm::PS512 => KeyAlgorithm::PS512,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::ES384 => KeyAlgorithm::ES384,
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
        _ => return None,
    })
}

//! OpenID Connect identity tokens of CI systems (GitHub Actions, GitLab CI):
//! checking one against its issuer's published keys, and what it says about
//! the job that holds it.
//!
//! Dependency rule: a leaf beside `signing`: it knows HTTP only as the client
//! that fetches an issuer's discovery document and keys, and nothing of
//! tokens, roles or the store. `publishing` decides what a checked identity
//! may do.

mod keys;
mod publication;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use keys::KeyCache;
pub use publication::{Publication, repository_path};

/// How far `exp`, `nbf` and `iat` may be off the clock.
pub const LEEWAY_SECS: i64 = 60;
/// The longest identity token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why an identity token was refused: each is a stable code of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Expired(String),
    NotYetValid(String),
    Audience(String),
    Issuer(String),
    Signature(String),
    Replayed(String),
    NoPublisher(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Expired(_) => "oidc_expired",
            Refusal::NotYetValid(_) => "oidc_not_yet_valid",
            Refusal::Audience(_) => "oidc_audience",
            Refusal::Issuer(_) => "oidc_issuer",
            Refusal::Signature(_) => "oidc_signature",
            Refusal::Replayed(_) => "oidc_replayed",
            Refusal::NoPublisher(_) => "oidc_no_publisher",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Refusal::Expired(m)
            | Refusal::NotYetValid(m)
            | Refusal::Audience(m)
            | Refusal::Issuer(m)
            | Refusal::Signature(m)
            | Refusal::Replayed(m)
            | Refusal::NoPublisher(m) => m,
        }
    }
}

/// Why an identity token could not be accepted: refused, or its issuer's
/// keys could not be fetched (the issuer named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Refused(Refusal),
    Unavailable(String),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Which issuers are accepted, the audience tokens must name, and how their
/// keys are fetched.
#[derive(Debug, Clone)]
pub struct Issuers {
    /// Exactly as `iss` must read (trailing slash included).
    pub urls: Vec<String>,
    pub audience: String,
    /// PEM roots added to the platform's for fetching discovery and keys.
    pub extra_roots: Option<Vec<u8>>,
    /// The least time between two key fetches an unknown `kid` causes.
    pub refresh_after: Duration,
    /// How long fetched keys are used before they are fetched again.
    pub keys_live: Duration,
    /// Per fetch: connecting, and the whole answer.
    pub timeout: Duration,
}

/// A checked identity token: its issuer, every claim, and what replay
/// protection keeps of it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub claims: Map<String, Value>,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

impl Identity {
    /// A string claim.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// The first of these string claims the token has (GitHub's name, then
    /// GitLab's).
    fn either(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.claim(n))
    }

    /// What the access log and a version's provenance keep of the job:
    /// issuer, subject, repository (or project), workflow (or pipeline
    /// definition) ref, ref, commit, run and attempt, actor.
    pub fn summary(&self) -> BTreeMap<&'static str, String> {
        let fields: [(&'static str, &[&str]); 9] = [
            ("subject", &["sub"]),
            ("repository", &["repository", "project_path"]),
            ("workflow_ref", &["workflow_ref", "ci_config_ref_uri"]),
            ("ref", &["ref"]),
            ("sha", &["sha"]),
            ("run_id", &["run_id", "pipeline_id"]),
            ("run_attempt", &["run_attempt"]),
            ("job_id", &["job_id"]),
            ("actor", &["actor", "user_login"]),
        ];
        let mut out = BTreeMap::from([("issuer", self.issuer.clone())]);
        for (key, names) in fields {
            if let Some(v) = self.either(names) {
                out.insert(key, v.to_owned());
            }
        }
        out
    }
}

/// Checks identity tokens against the configured issuers.
pub struct Verifier {
    issuers: Issuers,
    keys: KeyCache,
}

impl Verifier {
    /// Fails (with what is wrong) when the extra roots are not PEM
    /// certificates.
    pub fn new(issuers: Issuers) -> Result<Self, String> {
        let keys = KeyCache::new(&issuers)?;
        Ok(Self { issuers, keys })
    }

    /// Whether `url` is an accepted issuer, exactly as written.
    pub fn accepts(&self, url: &str) -> bool {
        self.issuers.urls.iter().any(|u| u == url)
    }

    /// Checks an identity token at `now`: the issuer is accepted; a key of its
    /// published set signed it with an asymmetric algorithm the issuer
    /// announces; `exp`, `nbf`, `iat` hold within the leeway; `aud` names this
    /// registry; it carries a `jti`. Each failure is its own [`Refusal`]; an
    /// issuer whose keys cannot be fetched is [`Failure::Unavailable`].
    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Identity> {
        let unsigned = || Refusal::Signature("the identity token is not a signed JWT".into());
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(unsigned().into());
        }
        let (alg, kid) = signing_header(token)?;
        let claims = unverified_claims(token).ok_or_else(unsigned)?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .filter(|iss| self.accepts(iss))
            .ok_or_else(|| {
                Refusal::Issuer("the identity token's issuer (iss) is not accepted here".into())
            })?
            .to_owned();
        let kid =
            kid.ok_or_else(|| Refusal::Signature("the identity token names no key (kid)".into()))?;
        let key = self.keys.key(&issuer, &kid, alg).await?;
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|_| {
            Refusal::Signature(format!("the signature does not verify with key {kid:?}"))
        })?;
        let expires_at = check_times(&claims, now)?;
        self.check_audience(&claims)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| {
                Refusal::Replayed("the identity token has no jti, so it could be replayed".into())
            })?
            .to_owned();
        Ok(Identity {
            issuer,
            claims,
            jti,
            expires_at,
        })
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), Refusal> {
        let want = self.issuers.audience.as_str();
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == want,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(want)),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::Audience(format!(
                "the identity token's audience (aud) does not name {want:?}"
            )))
        }
    }
}

/// The header's algorithm and key id; the algorithm refused unless it is
/// asymmetric: `none` and every HMAC algorithm are refused here, before any
/// key is looked at (a public key must never serve as an HMAC secret).
fn signing_header(token: &str) -> Result<(Algorithm, Option<String>), Refusal> {
    let refused = |why: String| Refusal::Signature(why);
    let head = token.split('.').next().unwrap_or_default();
    let header: Value = URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refused("the identity token's header is not JSON".into()))?;
    let name = header["alg"].as_str().unwrap_or("none");
    let alg: Algorithm = name
        .parse()
        .map_err(|_| refused(format!("algorithm {name:?} is not accepted")))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(refused(format!(
            "algorithm {name} is symmetric: identity tokens are signed with the issuer's private key"
        )));
    }
    Ok((alg, header["kid"].as_str().map(str::to_owned)))
}

/// The payload's claims, before the signature is checked: read only to find
/// the issuer whose keys decide.
fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// `exp` (required), `nbf` and `iat` against `now`, with the leeway; the
/// expiry.
fn check_times(claims: &Map<String, Value>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
    let at = |name: &str| claims.get(name).and_then(Value::as_i64);
    let now = now.timestamp();
    let exp = at("exp")
        .ok_or_else(|| Refusal::Expired("the identity token has no expiry (exp)".into()))?;
    if now > exp + LEEWAY_SECS {
        return Err(Refusal::Expired(format!(
            "the identity token expired {} s ago",
            now - exp
        )));
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = at(name)
            && t > now + LEEWAY_SECS
        {
            return Err(Refusal::NotYetValid(format!(
                "the identity token's {name} is {} s in the future",
                t - now
            )));
        }
    }
    DateTime::from_timestamp(exp, 0)
        .ok_or_else(|| Refusal::Expired("the identity token's expiry is out of range".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: Value, claims: Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", enc(&header), enc(&claims))
    }

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_looked_at() {
        for alg in ["none", "HS256", "HS384", "HS512", "nOnE", ""] {
            let t = token(
                serde_json::json!({"alg": alg, "kid": "k"}),
                serde_json::json!({}),
            );
            assert!(
                matches!(signing_header(&t), Err(Refusal::Signature(_))),
                "{alg}"
            );
        }
        let t = token(serde_json::json!({"kid": "k"}), serde_json::json!({}));
        assert!(signing_header(&t).is_err(), "no alg at all");
        let t = token(serde_json::json!({"alg": "ES256"}), serde_json::json!({}));
        assert_eq!(signing_header(&t).map(|(alg, _)| alg), Ok(Algorithm::ES256));
    }

    #[test]
    fn times_hold_within_a_minute_of_leeway() {
        let now = Utc::now();
        let t = now.timestamp();
        let c = |v: Value| v.as_object().unwrap().clone();
        assert!(check_times(&c(serde_json::json!({"exp": t - 30})), now).is_ok());
        assert!(matches!(
            check_times(&c(serde_json::json!({"exp": t - 90})), now),
            Err(Refusal::Expired(_))
        ));
        assert!(matches!(
            check_times(&c(serde_json::json!({})), now),
            Err(Refusal::Expired(_))
        ));
        assert!(matches!(
            check_times(&c(serde_json::json!({"exp": t + 900, "nbf": t + 120})), now),
            Err(Refusal::NotYetValid(_))
        ));
        assert!(matches!(
            check_times(&c(serde_json::json!({"exp": t + 900, "iat": t + 120})), now),
            Err(Refusal::NotYetValid(_))
        ));
        assert!(check_times(&c(serde_json::json!({"exp": t + 900, "nbf": t + 30})), now).is_ok());
    }
}

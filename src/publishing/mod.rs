//! Trusted publishing: a namespace's maintainers register the CI identities
//! that may publish there (an OpenID Connect issuer and exact claims), and a
//! CI job exchanges its identity token for a short-lived publisher token
//! (RFC 8693), with no stored secret.
//!
//! Dependency rule: a domain service beside `registry`: it asks `oidc` to
//! check identity tokens, `auth` to mint and to authorize, and the store's
//! `Publishers` for the publishers.

mod rules;

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::api::{PUBLISHER_SCOPE_PATTERN, PutPublisher, TokenExchange};
use crate::auth::{Access, Manage, Permit, PublisherToken, Read};
use crate::error::{Error, Result};
use crate::names::PublisherName;
use crate::oidc::{Identity, Refusal, Verifier};
use crate::store::Publishers;
use crate::trail::Trail;

/// A trusted publisher as recorded.
pub use crate::store::PublisherRecord;

/// A publisher token and what it was issued for.
#[derive(Debug)]
pub struct Exchanged {
    pub token: PublisherToken,
    /// `publisher:<namespace>/<name>`.
    pub scope: String,
}

pub struct Publishing {
    /// None when no issuer is configured: nothing can be exchanged, and no
    /// publisher set.
    verifier: Option<Arc<Verifier>>,
    publishers: Arc<dyn Publishers>,
    access: Arc<Access>,
    /// How long a publisher token lives.
    token_ttl: chrono::Duration,
}

impl Publishing {
    pub fn new(
        verifier: Option<Arc<Verifier>>,
        publishers: Arc<dyn Publishers>,
        access: Arc<Access>,
        token_ttl: chrono::Duration,
    ) -> Self {
        Self {
            verifier,
            publishers,
            access,
            token_ttl,
        }
    }

    /// Creates or replaces the permit's namespace's publisher `name`. A
    /// replacement stops the tokens minted under the old one.
    pub async fn put(
        &self,
        permit: &Permit<Manage>,
        name: PublisherName,
        spec: PutPublisher,
    ) -> Result<PublisherRecord> {
        let accepted = |iss: &str| self.verifier.as_ref().is_some_and(|v| v.accepts(iss));
        let checked = rules::check(spec, accepted)?;
        let record = PublisherRecord {
            id: Uuid::now_v7(),
            namespace: permit.namespace().clone(),
            name,
            issuer: checked.issuer,
            claims: checked.claims,
            roles: checked.roles,
            bind_commit: checked.bind_commit,
            created_at: Utc::now(),
            created_by: permit.by().clone(),
        };
        self.publishers
            .put_publisher(&record, &permit.pending())
            .await
            .map_err(|e| e.named(|| format!("namespace {}", permit.namespace())))?;
        Ok(record)
    }

    /// The permit's namespace's publishers.
    pub async fn list(&self, permit: &Permit<Read>) -> Result<Vec<PublisherRecord>> {
        self.publishers.publishers(permit.namespace()).await
    }

    /// Removes a publisher; its tokens stop at once.
    pub async fn delete(&self, permit: &Permit<Manage>, name: &PublisherName) -> Result<()> {
        self.publishers
            .delete_publisher(permit.namespace(), name, &permit.pending())
            .await
            .map_err(|e| e.named(|| format!("trusted publisher {}/{name}", permit.namespace())))
    }

    /// Exchanges a CI job's identity token for a publisher token: checks the
    /// form, the token (issuer, signature, times, audience), finds the one
    /// publisher whose issuer and claims it matches (or the one `scope`
    /// names), and mints, once per identity token. Exchanges count against
    /// the client address's rate, as requests without a token do. Refusals name no other
    /// namespace's publishers.
    pub async fn exchange(
        &self,
        form: TokenExchange,
        client: Option<std::net::IpAddr>,
        trail: &Trail,
    ) -> Result<Exchanged> {
        self.access.admit_anonymous(client)?;
        check_form(&form)?;
        // Why an identity token was refused goes to the exchange's event.
        self.exchange_checked(form, trail).await.inspect_err(|e| {
            if let Error::IdentityRefused(r) = e {
                trail.record("refusal", r.code().into());
            }
        })
    }

    async fn exchange_checked(&self, form: TokenExchange, trail: &Trail) -> Result<Exchanged> {
        let verifier = self
            .verifier
            .as_ref()
            .ok_or_else(|| Refusal::Issuer("this registry accepts no identity provider".into()))?;
        let identity = verifier.verify(&form.subject_token, Utc::now()).await?;
        trail.record(
            "identity",
            serde_json::to_value(identity.summary()).unwrap_or_default(),
        );
        let publisher = self.publisher_for(&identity, form.scope.as_deref()).await?;
        let token = self
            .access
            .mint_publisher_token(&publisher, &identity, self.token_ttl, trail)
            .await?;
        Ok(Exchanged {
            token,
            scope: format!("publisher:{}/{}", publisher.namespace, publisher.name),
        })
    }

    /// The publisher an identity matches: the one `scope` names, or the only
    /// one; several without a scope are an invalid request naming them (the
    /// caller proved it is each of them).
    async fn publisher_for(
        &self,
        identity: &Identity,
        scope: Option<&str>,
    ) -> Result<PublisherRecord> {
        let mut matched: Vec<PublisherRecord> = self
            .publishers
            .publishers_of_issuer(&identity.issuer)
            .await?
            .into_iter()
            .filter(|p| rules::matches(p, identity))
            .collect();
        if let Some(scope) = scope {
            let wanted = scope.strip_prefix("publisher:").unwrap_or(scope);
            matched.retain(|p| format!("{}/{}", p.namespace, p.name) == wanted);
        }
        match matched.len() {
            0 => Err(Refusal::NoPublisher(
                "no trusted publisher matches this identity token's issuer and claims".into(),
            )
            .into()),
            1 => Ok(matched.remove(0)),
            _ => Err(Error::invalid(format!(
                "the identity matches several trusted publishers ({}): name one with \
                 scope=publisher:<namespace>/<name>",
                matched
                    .iter()
                    .map(|p| format!("{}/{}", p.namespace, p.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The form's scope, when given: `publisher:<namespace>/<name>` (its other
/// fields are checked by their types).
fn check_form(form: &TokenExchange) -> Result<()> {
    let named = |scope: &str| {
        scope
            .strip_prefix("publisher:")
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(ns, name)| {
                crate::names::Namespace::parse(ns).is_ok() && PublisherName::parse(name).is_ok()
            })
    };
    match &form.scope {
        Some(scope) if !named(scope) => Err(Error::invalid(format!(
            "scope names a publisher ({PUBLISHER_SCOPE_PATTERN})"
        ))),
        _ => Ok(()),
    }
}

//! Publisher tokens: what trusted publishing mints for a CI job whose identity
//! token matched a namespace's trusted publisher. Short-lived, acting as the
//! publisher's principal (`oidc:<ns>/<name>`) with only the publisher's roles
//! in that namespace, carrying the job's identity into every audit event, and
//! standing only while the publisher stands as it was (a removal or any change
//! stops them on the next request).

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{Access, Principal, Secret};
use crate::error::{Error, Result};
use crate::kinds::BindingScope;
use crate::names::PrincipalName;
use crate::oidc::{Identity, LEEWAY_SECS, Publication, Refusal};
use crate::store::{Exchange, PublisherRecord, PublisherTokenRecord, RoleBinding};
use crate::trail::Trail;

/// A publisher token just minted, with its secret.
#[derive(Debug)]
pub struct PublisherToken {
    pub secret: Secret,
    pub principal: PrincipalName,
    pub expires_in: u64,
}

impl Access {
    /// Mints a publisher token for `identity`, which matched `publisher`,
    /// living `ttl`. The identity token is exchanged once: the exchange is
    /// recorded with the token in one transaction, and a second one (on any
    /// replica) until it expires is refused as replayed.
    pub async fn mint_publisher_token(
        &self,
        publisher: &PublisherRecord,
        identity: &Identity,
        ttl: chrono::Duration,
        trail: &Trail,
    ) -> Result<PublisherToken> {
        let principal = PrincipalName::publisher(&publisher.namespace, &publisher.name);
        let summary = serde_json::to_value(identity.summary()).map_err(Error::internal)?;
        let now = Utc::now();
        let record = PublisherTokenRecord {
            id: Uuid::now_v7(),
            publisher_id: publisher.id,
            identity: summary,
            created_at: now,
            expires_at: now + ttl,
        };
        // The exchange recorded the identity already.
        trail.note(|c| {
            c.principal = Some(principal.to_string());
            c.token_id = Some(record.id.to_string());
        });
        let exchange = Exchange {
            issuer: identity.issuer.clone(),
            jti: identity.jti.clone(),
            expires_at: identity.expires_at + chrono::Duration::seconds(LEEWAY_SECS),
        };
        let secret = Secret::generate_publisher();
        let pending = trail.pending(Some(&publisher.namespace));
        let fresh = self
            .publishers
            .exchange(&exchange, &record, &secret.hash(), &pending)
            .await?;
        if !fresh {
            return Err(Error::IdentityRefused(Refusal::Replayed(
                "this identity token was exchanged before: a CI job asks its provider for a new one"
                    .into(),
            )));
        }
        Ok(PublisherToken {
            secret,
            principal,
            expires_in: u64::try_from(ttl.num_seconds()).unwrap_or(0),
        })
    }

    /// The principal of a publisher token: unknown and expired tokens, and
    /// those whose publisher was removed or changed since, are all
    /// `TokenRefused`.
    pub(super) async fn publisher_principal(
        &self,
        presented: &str,
        trail: Trail,
    ) -> Result<Principal> {
        let secret = Secret::parse_publisher(presented).ok_or(Error::TokenRefused)?;
        let now = Utc::now();
        let found = self.publishers.publisher_credential(&secret.hash()).await?;
        let Some((token, publisher)) = found.filter(|(t, _)| t.expires_at > now) else {
            return Err(Error::TokenRefused);
        };
        let name = PrincipalName::publisher(&publisher.namespace, &publisher.name);
        let roles = publisher
            .roles
            .iter()
            .map(|&role| RoleBinding {
                principal: name.clone(),
                scope: BindingScope::Namespace(publisher.namespace.clone()),
                role,
            })
            .collect();
        let identity = serde_json::from_value(token.identity).unwrap_or_default();
        let p = Principal {
            name,
            token_id: token.id,
            roles,
            policy: self.policy.clone(),
            trail,
            repositories: None,
            publication: Some(Arc::new(Publication {
                publisher: format!("{}/{}", publisher.namespace, publisher.name),
                bind_commit: publisher.bind_commit,
                identity,
            })),
        };
        p.note();
        Ok(p)
    }
}

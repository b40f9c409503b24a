//! Registry tokens: what the OCI face's token endpoint hands a registry client
//! (skopeo, ORAS, containerd) for an API token, as the Docker token protocol
//! expects. A registry token is short-lived, pull only, scoped to the
//! repositories it was asked for, accepted only by the OCI face, and stands
//! only while the API token it was minted with does (checked on every request,
//! so a revocation takes effect on the next one).

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::access::{Credential, usable};
use super::{Access, Principal, Secret};
use crate::error::{Error, Result};
use crate::names::ModelRef;
use crate::store::RegistryTokenRecord;
use crate::trail::Trail;

/// Most repositories one registry token may cover.
pub const MAX_REPOSITORIES: usize = 32;

/// A registry token just minted, with its secret.
#[derive(Debug)]
pub struct RegistryToken {
    pub secret: Secret,
    pub issued_at: chrono::DateTime<Utc>,
    pub expires_in: u64,
}

impl Access {
    /// Mints a registry token for `repositories` from the API token `p`
    /// authenticated with. Whether `p` may pull from them is not asked here:
    /// the token endpoint answers a repository that is hidden and one that is
    /// absent alike, and every request with the token is authorized as it
    /// comes. It lives the configured time, and no longer than its parent.
    pub async fn mint_registry_token(
        &self,
        p: &Principal,
        repositories: Vec<ModelRef>,
    ) -> Result<RegistryToken> {
        super::access::refuse_publishers(p, p.name())?;
        if p.is_registry_token() {
            return Err(Error::invalid(
                "a registry token cannot mint another: present the API token",
            ));
        }
        if repositories.len() > MAX_REPOSITORIES {
            return Err(Error::invalid(format!(
                "a registry token covers at most {MAX_REPOSITORIES} repositories"
            )));
        }
        let parent = self.tokens.get_token(p.token_id()).await?;
        let now = Utc::now();
        let mut expires_at = now + self.limits.registry_token;
        if let Some(limit) = parent.expires_at {
            expires_at = expires_at.min(limit);
        }
        let mut names: Vec<String> = repositories.iter().map(ToString::to_string).collect();
        names.sort();
        names.dedup();
        let record = RegistryTokenRecord {
            id: Uuid::now_v7(),
            parent_id: parent.id,
            repositories: names,
            created_at: now,
            expires_at,
        };
        let secret = Secret::generate_registry();
        // Recorded before the event is taken, so the event names the token.
        p.trail
            .record("registry_token", record.id.to_string().into());
        let pending = p.trail.pending(None);
        self.tokens
            .create_registry_token(&record, &secret.hash(), &pending)
            .await?;
        Ok(RegistryToken {
            secret,
            issued_at: now,
            expires_in: u64::try_from((expires_at - now).num_seconds()).unwrap_or(0),
        })
    }

    /// Resolves a registry token to its principal, bounded to the token's
    /// repositories. Unknown, expired ones and those whose parent is revoked
    /// or expired are all `TokenRefused`, as API tokens are; rate limits apply.
    pub async fn authenticate_registry(
        &self,
        presented: &str,
        client: Option<IpAddr>,
        trail: Trail,
    ) -> Result<Principal> {
        let refused = |e| self.refusal(client, e);
        let secret =
            Secret::parse_registry(presented).ok_or_else(|| refused(Error::TokenRefused))?;
        let now = Utc::now();
        let found = self.tokens.registry_credential(&secret.hash()).await?;
        let Some(c) = found.filter(|c| {
            c.registry.expires_at > now && usable(&c.parent.token, Credential::Bearer, now)
        }) else {
            return Err(refused(Error::TokenRefused));
        };
        let repositories: Arc<[ModelRef]> = c
            .registry
            .repositories
            .iter()
            .filter_map(|r| ModelRef::parse(r).ok())
            .collect();
        let mut p = self.principal(c.parent.token, c.parent.roles, trail);
        p.repositories = Some(repositories);
        p.note();
        self.rates.check_principal(p.name(), p.bindings())?;
        Ok(p)
    }
}

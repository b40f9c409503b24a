//! The access service: who a token is, the tokens a principal holds, and who
//! holds which role where.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Global, GlobalPermit, ManageTokens, Policy, Principal, Secret, Seen, authorize_global,
};

use crate::error::{Error, Result};
use crate::kinds::{BindingScope, Role};
use crate::limits::{DownloadQuotas, DownloadUsage, Rate, RateLimits};
use crate::names::{Description, PrincipalName};
use crate::page::{Page, Paged};
use crate::store::{
    Bindings, CredentialRecord, Namespaces, Publishers, RoleBinding, TokenRecord, Tokens,
};
use crate::trail::Trail;

/// Token lifetimes: what a token gets when it asks for nothing, and the most it
/// may ask for.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimits {
    pub default_days: u32,
    pub max_days: u32,
    /// How long a console session lasts after sign-in.
    pub console_session: chrono::Duration,
    /// How long a registry token (the OCI face's) lasts.
    pub registry_token: chrono::Duration,
}

/// What a credential was presented as: a bearer token of the API, or the
/// console's session cookie. Each accepts only tokens of its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    ConsoleSession,
}

/// A token just minted, with its secret: the only time the secret exists outside
/// the caller's hands.
#[derive(Debug)]
pub struct MintedToken {
    pub token: TokenRecord,
    pub secret: Secret,
}

/// A token secret's SHA-256 (what the store keeps of it).
type Hash = [u8; 32];

/// Whether a token may authenticate as `how` at `now`: of that kind, not
/// revoked, not expired.
pub(super) fn usable(token: &TokenRecord, how: Credential, now: DateTime<Utc>) -> bool {
    token.console == (how == Credential::ConsoleSession)
        && token.revoked_at.is_none()
        && token.expires_at.is_none_or(|t| t > now)
}

/// Refuses a token for a trusted publisher's principal, or minted with a
/// publisher token: a publisher's tokens come from its CI identity only.
pub(super) fn refuse_publishers(minter: &Principal, owner: &PrincipalName) -> Result<()> {
    if minter.publication().is_some() {
        return Err(Error::NotAllowed(
            "a publisher token cannot mint other tokens: exchange a new identity token".into(),
        ));
    }
    if owner.is_publisher() {
        return Err(Error::ReservedPrincipal(format!(
            "{owner} is a trusted publisher: it gets tokens only by exchanging a CI identity token"
        )));
    }
    Ok(())
}

/// Whether the token's last use was recorded within the minute.
fn recently_used(token: &TokenRecord, now: DateTime<Utc>) -> bool {
    token
        .last_used_at
        .is_some_and(|t| now - t <= chrono::Duration::seconds(60))
}

/// Credentials this replica read, by secret hash, each with the access epoch it
/// was read at; at most [`Kept::MAX`], cleared when full. Only usable tokens are
/// kept, and a token found unusable is forgotten.
#[derive(Default)]
struct Kept(Mutex<HashMap<Hash, CredentialRecord>>);

impl Kept {
    const MAX: usize = 4096;

    fn get(&self, hash: &Hash) -> Option<CredentialRecord> {
        self.lock().get(hash).cloned()
    }

    fn keep(&self, hash: Hash, credential: &CredentialRecord) {
        let mut kept = self.lock();
        if kept.len() >= Self::MAX && !kept.contains_key(&hash) {
            kept.clear();
        }
        kept.insert(hash, credential.clone());
    }

    fn forget(&self, hash: &Hash) {
        self.lock().remove(hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, CredentialRecord>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A bearer token's caller authenticated by [`Access::authenticate_kept`], to
/// be served by [`Access::serve`]: read afresh, or from a kept credential not
/// yet confirmed.
pub struct Provisional {
    client: Option<IpAddr>,
    standing: Standing,
}

enum Standing {
    Fresh(Principal),
    Kept {
        principal: Principal,
        epoch: i64,
        hash: Hash,
    },
}

/// A principal's roles in one scope.
#[derive(Debug, Clone)]
pub struct Member {
    pub scope: BindingScope,
    pub principal: PrincipalName,
    pub roles: Vec<Role>,
}

/// The store capabilities access uses: tokens, role bindings, namespaces and
/// trusted publishers.
pub type AccessStores = (
    Arc<dyn Tokens>,
    Arc<dyn Bindings>,
    Arc<dyn Namespaces>,
    Arc<dyn Publishers>,
);

pub struct Access {
    kept: Kept,
    pub(super) tokens: Arc<dyn Tokens>,
    pub(super) bindings: Arc<dyn Bindings>,
    pub(super) namespaces: Arc<dyn Namespaces>,
    pub(super) publishers: Arc<dyn Publishers>,
    pub(super) policy: Arc<Policy>,
    pub(super) limits: TokenLimits,
    pub(super) rates: Arc<RateLimits>,
    quotas: Arc<DownloadQuotas>,
}

/// What a principal may still do: its request rate, and its downloads in the
/// rolling day against its quota.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub rate: Option<Rate>,
    pub downloads: DownloadUsage,
}

impl Access {
    pub fn new(
        (tokens, bindings, namespaces, publishers): AccessStores,
        policy: Arc<Policy>,
        limits: TokenLimits,
        rates: Arc<RateLimits>,
        quotas: Arc<DownloadQuotas>,
    ) -> Self {
        Self {
            kept: Kept::default(),
            tokens,
            bindings,
            namespaces,
            publishers,
            policy,
            limits,
            rates,
            quotas,
        }
    }

    /// The caller's own limits and what it has used of them.
    pub async fn usage(&self, p: &Principal) -> Result<Usage> {
        Ok(Usage {
            rate: self.rates.rate_of(p.bindings()),
            downloads: self.quotas.usage(p.name(), p.bindings()).await?,
        })
    }

    /// Resolves a bearer token to its principal, acting in the request of `trail`,
    /// from client address `client`. A missing token is `Unauthenticated`;
    /// unknown, expired and revoked ones are all `TokenRefused`, with no hint
    /// which; either until the address goes faster than its rate
    /// (`RateLimited`). A principal going faster than its own rate is
    /// `RateLimited` too.
    pub async fn authenticate(
        &self,
        bearer: Option<&str>,
        client: Option<IpAddr>,
        trail: Trail,
    ) -> Result<Principal> {
        self.authenticate_as(Credential::Bearer, bearer, client, trail)
            .await
    }

    /// [`Access::authenticate`] for a secret presented as `how`: a console
    /// session is no bearer token, and an API token no session.
    pub async fn authenticate_as(
        &self,
        how: Credential,
        secret: Option<&str>,
        client: Option<IpAddr>,
        trail: Trail,
    ) -> Result<Principal> {
        match self.principal_of(how, secret, trail).await {
            Err(e @ (Error::Unauthenticated | Error::TokenRefused)) => Err(self.refusal(client, e)),
            Ok(p) => {
                self.rates.check_principal(p.name(), p.bindings())?;
                Ok(p)
            }
            Err(e) => Err(e),
        }
    }

    async fn principal_of(
        &self,
        how: Credential,
        secret: Option<&str>,
        trail: Trail,
    ) -> Result<Principal> {
        if let Some(s) = secret.filter(|s| how == Credential::Bearer && Secret::is_publisher(s)) {
            return self.publisher_principal(s, trail).await;
        }
        let secret = secret
            .ok_or(Error::Unauthenticated)
            .and_then(|s| Secret::parse(s).ok_or(Error::TokenRefused))?;
        self.principal_by(how, &secret.hash(), trail).await
    }

    /// The principal of the token whose secret hashes to `hash`, read afresh;
    /// what was read is kept for [`Access::authenticate_kept`].
    async fn principal_by(&self, how: Credential, hash: &Hash, trail: Trail) -> Result<Principal> {
        let now = Utc::now();
        let found = self.tokens.credential(hash).await?;
        let Some(mut credential) = found.filter(|c| usable(&c.token, how, now)) else {
            self.kept.forget(hash);
            return Err(Error::TokenRefused);
        };
        // last_used_at is informational; refresh it at most once a minute per
        // token rather than writing on every request.
        if !recently_used(&credential.token, now) {
            self.tokens.touch_token(credential.token.id, now).await?;
            credential.token.last_used_at = Some(now);
        }
        self.kept.keep(*hash, &credential);
        let p = self.principal(credential.token, credential.roles, trail);
        p.note();
        Ok(p)
    }

    pub(super) fn principal(
        &self,
        token: TokenRecord,
        roles: Vec<RoleBinding>,
        trail: Trail,
    ) -> Principal {
        Principal {
            name: token.principal,
            token_id: token.id,
            roles,
            policy: self.policy.clone(),
            trail,
            repositories: None,
            publication: None,
        }
    }

    /// Authenticates a bearer token from what this replica kept of it, without
    /// a statement, for a read that confirms it ([`Access::serve`]); a token
    /// not kept (or kept over a minute since its use was recorded) is read
    /// afresh as [`Access::authenticate`] reads it. Rate limits apply as there.
    pub async fn authenticate_kept(
        &self,
        bearer: Option<&str>,
        client: Option<IpAddr>,
        trail: Trail,
    ) -> Result<Provisional> {
        let (how, now) = (Credential::Bearer, Utc::now());
        let hash = bearer.and_then(Secret::parse).map(|s| s.hash());
        if let Some(hash) = hash
            && let Some(credential) = self.kept.get(&hash)
            && usable(&credential.token, how, now)
            && recently_used(&credential.token, now)
        {
            let principal = self.principal(credential.token, credential.roles, trail);
            self.rates
                .check_principal(principal.name(), principal.bindings())?;
            return Ok(Provisional {
                client,
                standing: Standing::Kept {
                    principal,
                    epoch: credential.access_epoch,
                    hash,
                },
            });
        }
        let principal = self.authenticate_as(how, bearer, client, trail).await?;
        Ok(Provisional {
            client,
            standing: Standing::Fresh(principal),
        })
    }

    /// Serves a read to a caller authenticated by [`Access::authenticate_kept`].
    /// `read` authorizes the principal it is given and answers with the access
    /// epoch of its snapshot. A kept credential's answer stands when that epoch
    /// is the one the credential was read at: no token was revoked and no role
    /// changed in between, so the credential was current when the read was
    /// made. Otherwise, or when the read failed (a refusal or a missing thing
    /// must be judged on current access too), the caller is authenticated
    /// afresh and `read` runs again as it: `read` must have no effect. A read
    /// that found the database or the object store unavailable fails at once.
    pub async fn serve<T, F, Fut>(&self, caller: Provisional, read: F) -> Result<T>
    where
        F: Fn(Principal) -> Fut,
        Fut: Future<Output = Result<Seen<T>>>,
    {
        let (principal, epoch, hash) = match caller.standing {
            Standing::Fresh(p) => return read(p).await.map(|s| s.answer),
            Standing::Kept {
                principal,
                epoch,
                hash,
            } => (principal, epoch, hash),
        };
        let trail = principal.trail.clone();
        match read(principal.clone()).await {
            Ok(seen) if seen.access_epoch == epoch => {
                principal.note();
                return Ok(seen.answer);
            }
            // With a store gone, reading the token again would only wait out
            // another attempt before the same 503.
            Err(e @ Error::Unavailable(_)) => return Err(e),
            _ => self.kept.forget(&hash),
        }
        let fresh = match self.principal_by(Credential::Bearer, &hash, trail).await {
            Err(e @ Error::TokenRefused) => return Err(self.refusal(caller.client, e)),
            found => found?,
        };
        read(fresh).await.map(|s| s.answer)
    }

    /// Counts a request that presents no token of the registry's (an
    /// identity token exchange) against its address's rate.
    pub fn admit_anonymous(&self, client: Option<IpAddr>) -> Result<()> {
        client.map_or(Ok(()), |addr| self.rates.check_address(addr))
    }

    /// What a caller whose token did not authenticate is told: why (`why`),
    /// or `RateLimited` once its address goes faster than its rate.
    pub(super) fn refusal(&self, client: Option<IpAddr>, why: Error) -> Error {
        match client.map(|addr| self.rates.check_address(addr)) {
            Some(Err(limited)) => limited,
            _ => why,
        }
    }

    /// Mints a token for the principal the permit was granted over (oneself, or
    /// as admin anyone), living `days` (the configured default when None).
    ///
    /// A principal minting for itself mints with its own token: the new token is
    /// bound to it, expires no later than it, and is revoked with it, so a leaked
    /// token cannot be renewed into one that outlives its revocation. A token an
    /// admin mints for someone else stands on its own.
    pub async fn mint_token(
        &self,
        permit: &GlobalPermit<ManageTokens>,
        minter: &Principal,
        description: Description,
        days: Option<u32>,
    ) -> Result<MintedToken> {
        let owner = permit
            .owner()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("a token permit names its owner")))?;
        refuse_publishers(minter, owner)?;
        let days = days.unwrap_or(self.limits.default_days);
        if days == 0 || days > self.limits.max_days {
            return Err(Error::invalid(format!(
                "expires_in_days must be between 1 and {}",
                self.limits.max_days
            )));
        }
        let secret = Secret::generate();
        let now = Utc::now();
        let mut expires_at = now + chrono::Duration::days(i64::from(days));
        let parent = if owner == minter.name() {
            let parent = self.tokens.get_token(minter.token_id()).await?;
            if let Some(limit) = parent.expires_at {
                expires_at = expires_at.min(limit);
            }
            Some(parent.id)
        } else {
            None
        };
        let token = TokenRecord {
            id: Uuid::now_v7(),
            principal: owner.clone(),
            description: description.into_string(),
            created_at: now,
            expires_at: Some(expires_at),
            revoked_at: None,
            last_used_at: None,
            parent_id: parent,
            revoked_with: None,
            console: false,
        };
        self.tokens
            .create_token(&token, &secret.hash(), &permit.pending())
            .await?;
        Ok(MintedToken { token, secret })
    }

    /// Signs a principal in to the console: a session token minted from the
    /// token it signed in with (so it is revoked with it), living the
    /// configured session time and no longer than that token. Its secret goes
    /// into the session cookie; only its hash is stored.
    pub async fn open_session(&self, p: &Principal) -> Result<MintedToken> {
        let permit = authorize_global::<ManageTokens>(p, Global::OwnedBy(p.name()))?;
        refuse_publishers(p, p.name())?;
        let parent = self.tokens.get_token(p.token_id()).await?;
        let now = Utc::now();
        let mut expires_at = now + self.limits.console_session;
        if let Some(limit) = parent.expires_at {
            expires_at = expires_at.min(limit);
        }
        let secret = Secret::generate();
        let token = TokenRecord {
            id: Uuid::now_v7(),
            principal: p.name().clone(),
            description: "console session".into(),
            created_at: now,
            expires_at: Some(expires_at),
            revoked_at: None,
            last_used_at: None,
            parent_id: Some(parent.id),
            revoked_with: None,
            console: true,
        };
        permit.record("session", token.id.to_string().into());
        self.tokens
            .create_token(&token, &secret.hash(), &permit.pending())
            .await?;
        Ok(MintedToken { token, secret })
    }

    /// Signs a console session out: its token is revoked at once.
    pub async fn close_session(&self, p: &Principal) -> Result<()> {
        self.revoke_token(p, p.token_id()).await
    }

    /// Tokens, never their secrets: admins see everyone's (or `of` one
    /// principal's), others only their own whatever they ask.
    pub async fn tokens(
        &self,
        p: &Principal,
        of: Option<PrincipalName>,
        page: &Page,
    ) -> Result<Paged<TokenRecord>> {
        let of = if p.may_globally::<ManageTokens>(Global::All) {
            of
        } else {
            Some(p.name().clone())
        };
        let after = page.after::<Uuid>()?.unwrap_or(Uuid::nil());
        let items = self
            .tokens
            .list_tokens(of.as_ref(), after, page.limit())
            .await?;
        Ok(Paged::new(items, page, |t| t.id.to_string()))
    }

    /// Revokes a token (its owner or an admin); it stops working at once. Someone
    /// else's token looks the same as a missing one.
    pub async fn revoke_token(&self, p: &Principal, id: Uuid) -> Result<()> {
        let t = self.tokens.get_token(id).await?;
        let permit = authorize_global::<ManageTokens>(p, Global::OwnedBy(&t.principal))
            .map_err(|_| Error::NotFound)?;
        // The tokens minted from it go with it; the log says which.
        let cascade = self.tokens.token_descendants(id).await?;
        if !cascade.is_empty() {
            let ids: Vec<String> = cascade.iter().map(Uuid::to_string).collect();
            permit.record("revoked_with_it", ids.into());
        }
        self.tokens
            .revoke_token(id, Utc::now(), &permit.pending())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(console: bool) -> TokenRecord {
        let now = Utc::now();
        TokenRecord {
            id: Uuid::nil(),
            principal: PrincipalName::parse("p").unwrap(),
            description: String::new(),
            created_at: now,
            expires_at: Some(now + chrono::Duration::days(1)),
            revoked_at: None,
            last_used_at: Some(now),
            parent_id: None,
            revoked_with: None,
            console,
        }
    }

    /// What a kept credential is checked against on every use, without a
    /// statement: its kind, its revocation and its expiry.
    #[test]
    fn a_kept_token_serves_only_as_its_kind_and_until_it_expires() {
        let now = Utc::now();
        assert!(usable(&token(false), Credential::Bearer, now));
        assert!(!usable(&token(true), Credential::Bearer, now));
        assert!(!usable(&token(false), Credential::ConsoleSession, now));
        let expired = token(false);
        let later = expired.expires_at.unwrap() + chrono::Duration::seconds(1);
        assert!(!usable(&expired, Credential::Bearer, later));
        let revoked = TokenRecord {
            revoked_at: Some(now),
            ..token(false)
        };
        assert!(!usable(&revoked, Credential::Bearer, now));
        // Its use is recorded again once a minute: past that, it is read afresh.
        assert!(recently_used(&token(false), now));
        assert!(!recently_used(
            &token(false),
            now + chrono::Duration::seconds(61)
        ));
    }
}

//! Authentication (bearer tokens) and authorization (the one `authorize` function).
//!
//! Dependency rule: handlers obtain a [`Principal`] from the HTTP extractor and ask
//! [`authorize`] before calling domain code; nothing else decides access, and
//! nothing but `authorize` asks the casbin enforcer (`policy`).
//!
//! Freshness: a principal's role bindings are read from the database while the
//! request authenticates (one indexed query), and the token's expiry and
//! revocation are checked then too. There is no cache, so a binding change or a
//! revocation takes effect on the next request, on every replica.

pub mod policy;
pub mod token;

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::names::Namespace;
use crate::store::{RoleBinding, Store};

pub use policy::{Policy, Scope};
pub use token::Secret;

/// The namespace that holds global roles (`admin`, a global `auditor`).
pub const GLOBAL: &str = "*";

/// Roles, global (`Admin`) or per namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Maintainer,
    Publisher,
    Approver,
    Deployer,
    Auditor,
    Reader,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Maintainer,
        Role::Publisher,
        Role::Approver,
        Role::Deployer,
        Role::Auditor,
        Role::Reader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
            Role::Publisher => "publisher",
            Role::Approver => "approver",
            Role::Deployer => "deployer",
            Role::Auditor => "auditor",
            Role::Reader => "reader",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Where this role may be bound: `admin` only globally, `auditor` anywhere,
    /// the others only in a namespace.
    pub fn bindable(self, scope: Scope) -> bool {
        match self {
            Role::Admin => scope == Scope::Global,
            Role::Auditor => true,
            _ => scope == Scope::Namespace,
        }
    }
}

/// What a principal asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateNamespace,
    /// Read namespaces, members, models, versions, aliases, lineage.
    Read,
    /// Create models and versions, upload, seal, sign.
    Publish,
    Promote,
    /// Download the files of a verified version.
    DownloadVerified,
    /// Download the files of a draft or unverified version.
    DownloadUnverified,
    ReadAudit,
    /// Manage members, keys and quarantines of a namespace.
    Manage,
    /// Mint, list and revoke other principals' tokens.
    ManageTokens,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateNamespace => "create_namespace",
            Action::Read => "read",
            Action::Publish => "publish",
            Action::Promote => "promote",
            Action::DownloadVerified => "download_verified",
            Action::DownloadUnverified => "download_unverified",
            Action::ReadAudit => "read_audit",
            Action::Manage => "manage",
            Action::ManageTokens => "manage_tokens",
        }
    }
}

/// What the action is about.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Global,
    Namespace(&'a Namespace),
    /// Something a principal owns (its tokens, its identity): the owner may act on
    /// it; others need the global permission for the action.
    OwnedBy(&'a str),
    /// Public data any authenticated principal may read (trusted public keys).
    Public,
    /// Some namespace, whichever: allowed when any of the principal's bindings,
    /// in any namespace or globally, allows the action (imposing a dataset or
    /// commit quarantine, which only removes trust).
    AnyNamespace,
}

/// An authenticated caller: who it is, which token it used, the roles it holds now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub token_id: Uuid,
    roles: Vec<RoleBinding>,
    policy: Arc<Policy>,
}

impl Principal {
    pub fn bindings(&self) -> &[RoleBinding] {
        &self.roles
    }

    /// The roles that apply to a resource, with the scope each was bound in.
    fn roles_for<'a>(&'a self, resource: Resource<'a>) -> impl Iterator<Item = (Role, Scope)> + 'a {
        let any = matches!(resource, Resource::AnyNamespace);
        let ns = match resource {
            Resource::Global | Resource::OwnedBy(_) | Resource::Public | Resource::AnyNamespace => {
                None
            }
            Resource::Namespace(ns) => Some(ns.as_str()),
        };
        self.roles.iter().filter_map(move |b| {
            let scope = if b.namespace == GLOBAL {
                Scope::Global
            } else if any || Some(b.namespace.as_str()) == ns {
                Scope::Namespace
            } else {
                return None;
            };
            Role::parse(&b.role).map(|r| (r, scope))
        })
    }

    fn may(&self, action: Action, resource: Resource<'_>) -> Result<bool> {
        for (role, scope) in self.roles_for(resource) {
            if self.policy.allows(role, scope, action)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether every namespace is visible to this principal (admins, global auditors).
    pub fn sees_all_namespaces(&self) -> Result<bool> {
        self.may(Action::Read, Resource::Global)
    }
}

/// Proof that `authorize` said yes. Domain operations that change state take one.
#[derive(Debug)]
pub struct Permit(());

/// The only access decision in Signet.
///
/// A principal that may not even read a namespace gets `NotFound` for it and all
/// it holds, exactly as for something that does not exist, so namespaces and
/// their contents do not leak. One that may read but not act gets `Forbidden`.
pub fn authorize(p: &Principal, action: Action, resource: Resource<'_>) -> Result<Permit> {
    let decision = decide(p, action, resource);
    crate::audit::note(|c| {
        if let Resource::Namespace(ns) = resource {
            c.namespace.get_or_insert_with(|| ns.to_string());
        }
        if decision.is_err() {
            c.denied = true;
        }
    });
    decision
}

fn decide(p: &Principal, action: Action, resource: Resource<'_>) -> Result<Permit> {
    let open = match resource {
        Resource::OwnedBy(owner) => owner == p.name,
        Resource::Public => action == Action::Read,
        _ => false,
    };
    if open || p.may(action, resource)? {
        return Ok(Permit(()));
    }
    match resource {
        Resource::Namespace(_) if !p.may(Action::Read, resource)? => Err(Error::NotFound),
        _ => Err(Error::Forbidden),
    }
}

/// Token lifetimes: what a token gets when it asks for nothing, and the most it
/// may ask for.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimits {
    pub default_days: u32,
    pub max_days: u32,
}

/// What authentication needs: the store and the policy.
pub struct Access {
    pub store: Arc<dyn Store>,
    pub policy: Arc<Policy>,
    pub tokens: TokenLimits,
}

impl Access {
    /// Resolves a bearer token to its principal. Unknown, expired and revoked
    /// tokens are all `Unauthenticated`, with no hint which.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        let secret = Secret::parse(bearer).ok_or(Error::Unauthenticated)?;
        let token = self
            .store
            .token_by_secret_hash(&secret.hash())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let now = Utc::now();
        if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Unauthenticated);
        }
        // last_used_at is informational; refresh it at most once a minute per
        // token rather than writing on every request.
        if token
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::seconds(60))
        {
            self.store.touch_token(token.id, now).await?;
        }
        let roles = self.store.roles_of(&token.principal).await?;
        Ok(Principal {
            name: token.principal,
            token_id: token.id,
            roles,
            policy: self.policy.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn principal(bindings: &[(&str, &str)]) -> Principal {
        Principal {
            name: "p".into(),
            token_id: Uuid::nil(),
            roles: bindings
                .iter()
                .map(|(ns, role)| RoleBinding {
                    principal: "p".into(),
                    namespace: (*ns).into(),
                    role: (*role).into(),
                })
                .collect(),
            policy: Arc::new(Policy::embedded().await.unwrap()),
        }
    }

    fn ns(s: &str) -> Namespace {
        Namespace::parse(s).unwrap()
    }

    #[tokio::test]
    async fn no_role_in_a_namespace_looks_like_nothing_is_there() {
        let p = principal(&[("search", "maintainer")]).await;
        let fraud = ns("fraud");
        assert!(matches!(
            authorize(&p, Action::Read, Resource::Namespace(&fraud)),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            authorize(&p, Action::Publish, Resource::Namespace(&fraud)),
            Err(Error::NotFound)
        ));
    }

    #[tokio::test]
    async fn a_role_without_the_permission_is_forbidden() {
        let p = principal(&[("fraud", "deployer")]).await;
        let fraud = ns("fraud");
        assert!(authorize(&p, Action::Read, Resource::Namespace(&fraud)).is_ok());
        assert!(authorize(&p, Action::DownloadVerified, Resource::Namespace(&fraud)).is_ok());
        for a in [Action::Publish, Action::DownloadUnverified, Action::Manage] {
            assert!(matches!(
                authorize(&p, a, Resource::Namespace(&fraud)),
                Err(Error::Forbidden)
            ));
        }
    }

    #[tokio::test]
    async fn a_namespace_role_bound_elsewhere_grants_nothing_here() {
        let p = principal(&[("search", "publisher")]).await;
        assert!(authorize(&p, Action::Publish, Resource::Namespace(&ns("search"))).is_ok());
        assert!(authorize(&p, Action::Publish, Resource::Namespace(&ns("fraud"))).is_err());
    }

    #[tokio::test]
    async fn a_global_auditor_reads_everywhere_and_changes_nothing() {
        let p = principal(&[("*", "auditor")]).await;
        let fraud = ns("fraud");
        assert!(authorize(&p, Action::Read, Resource::Namespace(&fraud)).is_ok());
        assert!(authorize(&p, Action::ReadAudit, Resource::Namespace(&fraud)).is_ok());
        assert!(matches!(
            authorize(&p, Action::Publish, Resource::Namespace(&fraud)),
            Err(Error::Forbidden)
        ));
        assert!(p.sees_all_namespaces().unwrap());
    }

    #[tokio::test]
    async fn owners_act_on_their_own_things_and_only_admins_on_others() {
        let alice = principal(&[("fraud", "reader")]).await;
        let admin = principal(&[("*", "admin")]).await;
        assert!(authorize(&alice, Action::ManageTokens, Resource::OwnedBy("p")).is_ok());
        assert!(matches!(
            authorize(&alice, Action::ManageTokens, Resource::OwnedBy("bob")),
            Err(Error::Forbidden)
        ));
        assert!(authorize(&admin, Action::ManageTokens, Resource::OwnedBy("bob")).is_ok());
    }

    #[tokio::test]
    async fn only_admins_act_globally() {
        let admin = principal(&[("*", "admin")]).await;
        let maint = principal(&[("fraud", "maintainer")]).await;
        // A namespace-only role bound under "*" by mistake grants nothing.
        let odd = principal(&[("*", "publisher")]).await;
        assert!(authorize(&admin, Action::CreateNamespace, Resource::Global).is_ok());
        for p in [&maint, &odd] {
            assert!(matches!(
                authorize(p, Action::CreateNamespace, Resource::Global),
                Err(Error::Forbidden)
            ));
        }
        assert!(authorize(&odd, Action::Publish, Resource::Namespace(&ns("fraud"))).is_err());
    }
}

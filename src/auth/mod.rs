//! Authentication (bearer tokens) and authorization (the one `authorize` function).
//!
//! Dependency rule: handlers obtain a [`Principal`] from the HTTP extractor and ask
//! [`authorize`] before calling domain code; nothing else decides access.

pub mod token;

use chrono::Utc;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::names::Namespace;
use crate::store::{RoleBinding, Store};

pub use token::Secret;

/// The namespace that holds global roles (`admin`, a global `auditor`).
pub const GLOBAL: &str = "*";

/// Roles, global (`Admin`) or per namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// The permission table of `api.md`.
    fn allows(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match self {
            Admin => true,
            Maintainer => !matches!(action, CreateNamespace),
            Publisher => matches!(
                action,
                Read | Publish | DownloadVerified | DownloadUnverified
            ),
            Approver => matches!(action, Read | Promote | DownloadVerified),
            Deployer => matches!(action, Read | DownloadVerified),
            Auditor => matches!(action, Read | ReadAudit),
            Reader => matches!(action, Read),
        }
    }
}

/// What a principal asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateNamespace,
    /// Read namespaces, models, versions, aliases, lineage.
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
}

/// What the action is about.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Global,
    Namespace(&'a Namespace),
}

/// An authenticated caller: who it is, which token it used, the roles it holds now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub token_id: Uuid,
    roles: Vec<RoleBinding>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles_in(GLOBAL).any(|r| r == Role::Admin)
    }

    fn roles_in<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = Role> + 'a {
        self.roles
            .iter()
            .filter(move |b| b.namespace == ns)
            .filter_map(|b| Role::parse(&b.role))
    }

    pub fn bindings(&self) -> &[RoleBinding] {
        &self.roles
    }
}

/// Proof that `authorize` said yes. Domain operations that change state take one.
#[derive(Debug)]
pub struct Permit(());

/// The only access decision in Signet.
///
/// A principal with no role at all in a namespace gets `NotFound` for it, exactly as
/// for an object that does not exist, so namespaces and their contents do not leak.
/// One with some role there but not the needed one gets `Forbidden`.
pub fn authorize(p: &Principal, action: Action, resource: Resource<'_>) -> Result<Permit> {
    let global: Vec<Role> = p.roles_in(GLOBAL).collect();
    if global.iter().any(|r| r.allows(action)) {
        return Ok(Permit(()));
    }
    match resource {
        Resource::Global => Err(Error::Forbidden),
        Resource::Namespace(ns) => {
            let local: Vec<Role> = p.roles_in(ns.as_str()).collect();
            if local.iter().any(|r| r.allows(action)) {
                Ok(Permit(()))
            } else if local.is_empty() && global.is_empty() {
                Err(Error::NotFound)
            } else {
                Err(Error::Forbidden)
            }
        }
    }
}

/// Resolves a bearer token to its principal. Unknown, expired and revoked tokens
/// are all `Unauthenticated`, with no hint which.
pub async fn authenticate(store: &dyn Store, bearer: &str) -> Result<Principal> {
    let secret = Secret::parse(bearer).ok_or(Error::Unauthenticated)?;
    let token = store
        .token_by_secret_hash(&secret.hash())
        .await?
        .ok_or(Error::Unauthenticated)?;
    let now = Utc::now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
        return Err(Error::Unauthenticated);
    }
    // last_used_at is informational; refresh it at most once a minute per token
    // rather than writing on every request.
    if token
        .last_used_at
        .is_none_or(|t| now - t > chrono::Duration::seconds(60))
    {
        store.touch_token(token.id, now).await?;
    }
    let roles = store.roles_of(&token.principal).await?;
    Ok(Principal {
        name: token.principal,
        token_id: token.id,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(bindings: &[(&str, &str)]) -> Principal {
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
        }
    }

    #[test]
    fn no_role_in_a_namespace_looks_like_nothing_is_there() {
        let fraud = Namespace::parse("fraud").unwrap();
        let p = principal(&[("search", "maintainer")]);
        assert!(matches!(
            authorize(&p, Action::Read, Resource::Namespace(&fraud)),
            Err(Error::NotFound)
        ));
    }

    #[test]
    fn a_role_without_the_permission_is_forbidden() {
        let fraud = Namespace::parse("fraud").unwrap();
        let p = principal(&[("fraud", "deployer")]);
        assert!(authorize(&p, Action::Read, Resource::Namespace(&fraud)).is_ok());
        assert!(matches!(
            authorize(&p, Action::Publish, Resource::Namespace(&fraud)),
            Err(Error::Forbidden)
        ));
        assert!(matches!(
            authorize(&p, Action::DownloadUnverified, Resource::Namespace(&fraud)),
            Err(Error::Forbidden)
        ));
    }

    #[test]
    fn only_admins_create_namespaces() {
        let admin = principal(&[("*", "admin")]);
        let maint = principal(&[("fraud", "maintainer")]);
        assert!(authorize(&admin, Action::CreateNamespace, Resource::Global).is_ok());
        assert!(matches!(
            authorize(&maint, Action::CreateNamespace, Resource::Global),
            Err(Error::Forbidden)
        ));
    }
}

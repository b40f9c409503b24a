//! Authentication (bearer tokens) and authorization.
//!
//! Dependency rule: handlers obtain a [`Principal`] from the HTTP extractor and
//! get a permit from [`authorize`] (or its global and scoped forms) before calling
//! domain code; nothing else decides access, and nothing but this module asks the
//! casbin enforcer (`policy`).
//!
//! Asking and being stopped are two functions: [`Principal::may`] answers a
//! question and has no effect; `authorize` returns a permit or the refusal. A
//! permit names its action in its type (`Permit<Publish>`) and carries the
//! namespace it covers and who holds it, so domain operations take the namespace
//! from the permit: a read permit cannot be spent on a write, nor a permit for
//! one namespace on another.
//!
//! Freshness: a principal's role bindings are read from the database while the
//! request authenticates, and the token's expiry and revocation are checked then
//! too, so a binding change or a revocation takes effect on the next request, on
//! every replica. The one exception keeps that promise another way: a read that
//! also answers the access epoch (which every revocation and binding change bumps
//! in its own transaction) may start from the credential this replica kept, and
//! its answer stands only when its snapshot finds the epoch the credential was
//! read at; otherwise the caller is authenticated afresh and the read runs again
//! ([`Access::serve`]).

mod access;
mod members;
pub mod policy;
mod publishing;
mod registry;
pub mod token;

use std::marker::PhantomData;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Denial, Error, Result};
use crate::kinds::BindingScope;
use crate::names::{ModelName, ModelRef, Namespace, PrincipalName};
use crate::oidc::Publication;
use crate::store::Pending;
use crate::trail::Trail;

/// The records access operations answer with.
pub use crate::store::{RoleBinding, TokenRecord};
pub use access::{
    Access, AccessStores, Credential, Member, MintedToken, Provisional, TokenLimits, Usage,
};
pub use policy::{Policy, Scope};
pub use publishing::PublisherToken;
pub use registry::{MAX_REPOSITORIES, RegistryToken};
pub use token::Secret;

/// What a principal asks to do, as the casbin policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateNamespace,
    Read,
    Publish,
    Promote,
    DownloadVerified,
    DownloadUnverified,
    ReadAudit,
    Manage,
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

/// An action as a type, so a permit's action is checked by the compiler.
pub trait Act: Send + Sync + 'static {
    const ACTION: Action;
}

macro_rules! actions {
    ($($(#[$doc:meta])* $ty:ident => $action:ident),+ $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $ty;

            impl Act for $ty {
                const ACTION: Action = Action::$action;
            }
        )+
    };
}

actions!(
    /// Create namespaces (admins).
    CreateNamespace => CreateNamespace,
    /// Read namespaces, members, models, versions, aliases, lineage.
    Read => Read,
    /// Create models and versions, upload, seal, sign.
    Publish => Publish,
    /// Move and remove aliases.
    Promote => Promote,
    /// Download the files of a verified version.
    DownloadVerified => DownloadVerified,
    /// Download the files of a draft or unverified version.
    DownloadUnverified => DownloadUnverified,
    /// Read the access log.
    ReadAudit => ReadAudit,
    /// Manage members, keys and quarantines of a namespace.
    Manage => Manage,
    /// Mint, list and revoke tokens (one's own, or as admin anyone's).
    ManageTokens => ManageTokens,
);

/// Where a global question points.
#[derive(Debug, Clone, Copy)]
pub enum Global<'a> {
    /// Everything: needs a global role that allows the action.
    All,
    /// Something a principal owns (its tokens): the owner may act on it; others
    /// need the global permission.
    OwnedBy(&'a PrincipalName),
    /// Public data any authenticated principal may read (trusted public keys,
    /// lineage queries filtered to what the caller can see).
    Public,
    /// Some namespace, whichever: allowed when any binding of the principal, in
    /// any namespace or globally, allows the action.
    AnyNamespace,
}

/// An answer with the access epoch of the snapshot it was read in: what
/// confirms a credential the replica kept for its reader ([`Access::serve`]).
#[derive(Debug)]
pub struct Seen<T> {
    pub answer: T,
    pub access_epoch: i64,
}

/// An authenticated caller: who it is, which token it used, the roles it holds
/// now, and the audit trail of the request it is making.
#[derive(Debug, Clone)]
pub struct Principal {
    name: PrincipalName,
    token_id: Uuid,
    roles: Vec<RoleBinding>,
    policy: Arc<Policy>,
    trail: Trail,
    /// A registry token's repositories (none: an API token, bounded by its
    /// roles alone).
    repositories: Option<Arc<[ModelRef]>>,
    /// A publisher token's publisher and CI identity.
    publication: Option<Arc<Publication>>,
}

impl Principal {
    pub fn name(&self) -> &PrincipalName {
        &self.name
    }

    pub fn token_id(&self) -> Uuid {
        self.token_id
    }

    pub fn bindings(&self) -> &[RoleBinding] {
        &self.roles
    }

    /// The publisher and CI identity of a publisher token.
    pub fn publication(&self) -> Option<&Publication> {
        self.publication.as_deref()
    }

    /// Names the caller and its token in its request's audit context, with
    /// a publisher token's CI identity.
    fn note(&self) {
        self.trail.note(|c| {
            c.principal = Some(self.name.to_string());
            c.token_id = Some(self.token_id.to_string());
            if let Some(p) = &self.publication {
                c.detail.insert("identity".into(), p.identity_json());
            }
        });
    }

    /// Whether any role bound where `applies` says allows `action`.
    fn allowed(&self, action: Action, applies: impl Fn(&BindingScope) -> Option<Scope>) -> bool {
        self.roles.iter().any(|b| {
            applies(&b.scope).is_some_and(|scope| {
                self.policy
                    .allows(b.role, scope, action)
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "RBAC policy evaluation failed; denying");
                        false
                    })
            })
        })
    }

    fn global_scope(b: &BindingScope) -> Option<Scope> {
        b.is_global().then_some(Scope::Global)
    }

    /// May this principal do `A` in `ns`? A question: no effect, no log.
    pub fn may<A: Act>(&self, ns: &Namespace) -> bool {
        self.allowed(A::ACTION, |b| match b {
            BindingScope::Global => Some(Scope::Global),
            BindingScope::Namespace(n) if n == ns => Some(Scope::Namespace),
            BindingScope::Namespace(_) => None,
        })
    }

    /// May this principal do `A` on a global target? A question: no effect.
    pub fn may_globally<A: Act>(&self, on: Global<'_>) -> bool {
        match on {
            Global::OwnedBy(owner) if owner == &self.name => true,
            Global::Public => A::ACTION == Action::Read,
            Global::AnyNamespace => self.may_anywhere::<A>(),
            Global::All | Global::OwnedBy(_) => self.allowed(A::ACTION, Self::global_scope),
        }
    }

    /// May this principal do `A` in at least one namespace (or globally)?
    pub fn may_anywhere<A: Act>(&self) -> bool {
        self.allowed(A::ACTION, |b| {
            Some(if b.is_global() {
                Scope::Global
            } else {
                Scope::Namespace
            })
        })
    }

    /// Whether the credential presented covers `model`: an API token covers
    /// every repository its roles reach; a registry token only those it was
    /// minted for.
    pub fn covers(&self, model: &ModelRef) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|r| r.iter().any(|m| m == model))
    }

    /// Whether this principal authenticated with a registry token.
    pub fn is_registry_token(&self) -> bool {
        self.repositories.is_some()
    }

    /// Whether every namespace is visible to this principal (admins, global auditors).
    pub fn sees_all_namespaces(&self) -> bool {
        self.allowed(Action::Read, Self::global_scope)
    }
}

/// What a permit was granted over: a namespace ([`authorize`]), a global
/// target ([`authorize_global`]) or a binding scope ([`authorize_scope`]).
pub trait PermitScope: std::fmt::Debug {
    /// The namespace a write under the permit is filed under in the access log.
    fn audited_namespace(&self) -> Option<&Namespace>;
}

impl PermitScope for Namespace {
    fn audited_namespace(&self) -> Option<&Namespace> {
        Some(self)
    }
}

impl PermitScope for BindingScope {
    fn audited_namespace(&self) -> Option<&Namespace> {
        self.namespace()
    }
}

/// The scope of a global permit: everything, or one owner's things when it
/// was asked over an owner ([`Global::OwnedBy`]).
#[derive(Debug)]
pub struct GlobalScope {
    owner: Option<PrincipalName>,
}

impl PermitScope for GlobalScope {
    fn audited_namespace(&self) -> Option<&Namespace> {
        None
    }
}

/// Proof that the gate allowed `A` to one principal over `S` (by default one
/// namespace). Domain operations take the scope, the acting principal and the
/// audit event of their write from it; the action is in the type, so a read
/// permit cannot be spent on a write.
#[derive(Debug)]
pub struct Permit<A: Act, S: PermitScope = Namespace> {
    scope: S,
    by: PrincipalName,
    trail: Trail,
    _action: PhantomData<A>,
}

/// Proof that `authorize_global` allowed `A` on a global target.
pub type GlobalPermit<A> = Permit<A, GlobalScope>;
/// Proof that `authorize_scope` allowed `A` in a binding scope: one namespace,
/// or globally.
pub type ScopePermit<A> = Permit<A, BindingScope>;

impl<A: Act, S: PermitScope> Permit<A, S> {
    fn granted(p: &Principal, scope: S) -> Self {
        Self {
            scope,
            by: p.name.clone(),
            trail: p.trail.clone(),
            _action: PhantomData,
        }
    }

    pub fn by(&self) -> &PrincipalName {
        &self.by
    }

    /// The audit event a write under this permit commits with.
    pub fn pending(&self) -> Pending {
        self.trail.pending(self.scope.audited_namespace())
    }

    /// Adds what identifies the action beyond its path (bytes sent, a range's
    /// start) to the request's audit event, before the write that commits it.
    pub fn record(&self, key: &str, value: serde_json::Value) {
        self.trail.record(key, value);
    }

    /// Marks the request as refused by the registry's policy, for these
    /// reasons (codes): its audit event's outcome is `refused`.
    pub fn refused(&self, reasons: Vec<String>) {
        self.trail.refused(reasons);
    }
}

impl<A: Act> Permit<A> {
    pub fn namespace(&self) -> &Namespace {
        &self.scope
    }

    /// The model `name` in this permit's namespace.
    pub fn model(&self, name: &ModelName) -> ModelRef {
        ModelRef {
            namespace: self.scope.clone(),
            name: name.clone(),
        }
    }
}

impl<A: Act> GlobalPermit<A> {
    /// Whose things this permit covers, when it was asked over an owner.
    pub fn owner(&self) -> Option<&PrincipalName> {
        self.scope.owner.as_ref()
    }
}

impl<A: Act> ScopePermit<A> {
    pub fn scope(&self) -> &BindingScope {
        &self.scope
    }
}

/// The gate for namespaced things.
///
/// A principal that may not even read a namespace is refused as if the
/// namespace did not exist (404), so namespaces and their contents do not leak;
/// one that may read but not act is forbidden (403).
pub fn authorize<A: Act>(p: &Principal, ns: &Namespace) -> Result<Permit<A>> {
    if p.may::<A>(ns) {
        return Ok(Permit::granted(p, ns.clone()));
    }
    Err(Error::Denied(Denial {
        hidden: !p.may::<Read>(ns),
        namespace: Some(ns.clone()),
    }))
}

/// The gate for global things (403 when refused).
pub fn authorize_global<A: Act>(p: &Principal, on: Global<'_>) -> Result<GlobalPermit<A>> {
    if p.may_globally::<A>(on) {
        let owner = match on {
            Global::OwnedBy(owner) => Some(owner.clone()),
            _ => None,
        };
        return Ok(Permit::granted(p, GlobalScope { owner }));
    }
    Err(Error::forbidden())
}

/// The gate for a binding scope: a namespace as [`authorize`], `*` as
/// [`authorize_global`].
pub fn authorize_scope<A: Act>(p: &Principal, scope: &BindingScope) -> Result<ScopePermit<A>> {
    match scope {
        BindingScope::Namespace(ns) => {
            authorize::<A>(p, ns)?;
        }
        BindingScope::Global => {
            authorize_global::<A>(p, Global::All)?;
        }
    }
    Ok(Permit::granted(p, scope.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Role;

    async fn principal(bindings: &[(&str, Role)]) -> Principal {
        let name = PrincipalName::parse("p").unwrap();
        Principal {
            name: name.clone(),
            token_id: Uuid::nil(),
            roles: bindings
                .iter()
                .map(|(scope, role)| RoleBinding {
                    principal: name.clone(),
                    scope: BindingScope::parse(scope).unwrap(),
                    role: *role,
                })
                .collect(),
            policy: Arc::new(Policy::embedded().await.unwrap()),
            trail: Trail::default(),
            repositories: None,
            publication: None,
        }
    }

    fn ns(s: &str) -> Namespace {
        Namespace::parse(s).unwrap()
    }

    fn hidden<T>(r: Result<T>) -> bool {
        matches!(r, Err(Error::Denied(Denial { hidden: true, .. })))
    }

    fn forbidden<T>(r: Result<T>) -> bool {
        matches!(r, Err(Error::Denied(Denial { hidden: false, .. })))
    }

    #[tokio::test]
    async fn no_role_in_a_namespace_looks_like_nothing_is_there() {
        let p = principal(&[("search", Role::Maintainer)]).await;
        let fraud = ns("fraud");
        assert!(hidden(authorize::<Read>(&p, &fraud)));
        assert!(hidden(authorize::<Publish>(&p, &fraud)));
    }

    #[tokio::test]
    async fn a_role_without_the_permission_is_forbidden() {
        let p = principal(&[("fraud", Role::Deployer)]).await;
        let fraud = ns("fraud");
        assert!(authorize::<Read>(&p, &fraud).is_ok());
        assert!(authorize::<DownloadVerified>(&p, &fraud).is_ok());
        assert!(forbidden(authorize::<Publish>(&p, &fraud)));
        assert!(forbidden(authorize::<DownloadUnverified>(&p, &fraud)));
        assert!(forbidden(authorize::<Manage>(&p, &fraud)));
    }

    #[tokio::test]
    async fn a_namespace_role_bound_elsewhere_grants_nothing_here() {
        let p = principal(&[("search", Role::Publisher)]).await;
        assert!(authorize::<Publish>(&p, &ns("search")).is_ok());
        assert!(authorize::<Publish>(&p, &ns("fraud")).is_err());
    }

    #[tokio::test]
    async fn a_global_auditor_reads_everywhere_and_changes_nothing() {
        let p = principal(&[("*", Role::Auditor)]).await;
        let fraud = ns("fraud");
        assert!(authorize::<Read>(&p, &fraud).is_ok());
        assert!(authorize::<ReadAudit>(&p, &fraud).is_ok());
        assert!(forbidden(authorize::<Publish>(&p, &fraud)));
        assert!(p.sees_all_namespaces());
    }

    #[tokio::test]
    async fn owners_act_on_their_own_things_and_only_admins_on_others() {
        let alice = principal(&[("fraud", Role::Reader)]).await;
        let admin = principal(&[("*", Role::Admin)]).await;
        let me = PrincipalName::parse("p").unwrap();
        let bob = PrincipalName::parse("bob").unwrap();
        assert!(authorize_global::<ManageTokens>(&alice, Global::OwnedBy(&me)).is_ok());
        assert!(forbidden(authorize_global::<ManageTokens>(
            &alice,
            Global::OwnedBy(&bob)
        )));
        assert!(authorize_global::<ManageTokens>(&admin, Global::OwnedBy(&bob)).is_ok());
    }

    #[tokio::test]
    async fn only_admins_act_globally() {
        let admin = principal(&[("*", Role::Admin)]).await;
        let maint = principal(&[("fraud", Role::Maintainer)]).await;
        // A namespace-only role bound under "*" by mistake grants nothing.
        let odd = principal(&[("*", Role::Publisher)]).await;
        assert!(authorize_global::<CreateNamespace>(&admin, Global::All).is_ok());
        for p in [&maint, &odd] {
            assert!(forbidden(authorize_global::<CreateNamespace>(
                p,
                Global::All
            )));
        }
        assert!(authorize::<Publish>(&odd, &ns("fraud")).is_err());
    }

    #[tokio::test]
    async fn asking_is_not_being_refused() {
        let p = principal(&[("fraud", Role::Deployer)]).await;
        let fraud = ns("fraud");
        assert!(!p.may::<DownloadUnverified>(&fraud));
        assert!(p.may::<DownloadVerified>(&fraud));
        assert!(!p.may::<Read>(&ns("search")));
        // A permit covers the namespace it was asked for, and nothing else.
        let permit = authorize::<Read>(&p, &fraud).unwrap();
        assert_eq!(permit.namespace(), &fraud);
        assert_eq!(permit.by().as_str(), "p");
    }
}

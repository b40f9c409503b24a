//! Who holds which role where: a scope's members, and changing their roles.

use chrono::Utc;

use super::{Access, Manage, Member, Principal, Read, ScopePermit, authorize_scope};
use crate::error::{Error, Result};
use crate::kinds::{BindingScope, Role};
use crate::names::PrincipalName;
use crate::page::{Page, Paged};
use crate::store::RoleBinding;

impl Access {
    /// Replaces a principal's roles in the permit's scope. Each role must be
    /// bindable there (`admin` only globally; `auditor` anywhere; the others only
    /// in a namespace), and the namespace must exist.
    pub async fn set_roles(
        &self,
        permit: &ScopePermit<Manage>,
        principal: &PrincipalName,
        roles: &[Role],
    ) -> Result<Member> {
        let scope = permit.scope();
        if principal.is_publisher() {
            return Err(Error::ReservedPrincipal(format!(
                "{principal} is a trusted publisher: its roles are the publisher's (PUT \
                 /v1/namespaces/{{ns}}/trusted-publishers/{{name}})"
            )));
        }
        let mut parsed = Vec::with_capacity(roles.len());
        for &role in roles {
            if !role.bindable(scope) {
                return Err(Error::RoleNotAllowed(format!(
                    "role {:?} cannot be bound in {scope}",
                    role.as_str()
                )));
            }
            parsed.push(role);
        }
        parsed.sort_by_key(|r| r.as_str());
        parsed.dedup();
        if let Some(ns) = scope.namespace() {
            self.namespaces.get_namespace(ns).await?;
        }
        self.bindings
            .set_roles(principal, scope, &parsed, Utc::now(), &permit.pending())
            .await?;
        Ok(Member {
            scope: scope.clone(),
            principal: principal.clone(),
            roles: parsed,
        })
    }

    /// The members of a scope and their roles, a page of principals at a time.
    /// A namespace's members are visible to its members; global bindings are the
    /// admins' business.
    pub async fn members(
        &self,
        p: &Principal,
        scope: &BindingScope,
        page: &Page,
    ) -> Result<Paged<Member>> {
        match scope {
            BindingScope::Global => drop(authorize_scope::<Manage>(p, scope)?),
            BindingScope::Namespace(_) => drop(authorize_scope::<Read>(p, scope)?),
        }
        let bindings = self
            .bindings
            .members(scope, page.after_text(), page.limit())
            .await?;
        let mut items: Vec<Member> = Vec::new();
        for RoleBinding {
            principal,
            scope,
            role,
        } in bindings
        {
            match items.last_mut() {
                Some(m) if m.principal == principal => m.roles.push(role),
                _ => items.push(Member {
                    scope,
                    principal,
                    roles: vec![role],
                }),
            }
        }
        Ok(Paged::new(items, page, |m| m.principal.to_string()))
    }

    /// Removes all of a principal's roles in the permit's scope.
    pub async fn remove_member(
        &self,
        permit: &ScopePermit<Manage>,
        principal: &PrincipalName,
    ) -> Result<()> {
        self.bindings
            .remove_member(permit.scope(), principal, &permit.pending())
            .await
    }
}

//! Role bindings: which principal holds which role where.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::kinds::{BindingScope, Role};
use crate::names::PrincipalName;
use crate::store::Pending;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoleBinding {
    pub principal: PrincipalName,
    #[sqlx(rename = "namespace")]
    pub scope: BindingScope,
    pub role: Role,
}

/// Which namespaces a listing may show.
#[derive(Debug, Clone)]
pub enum Visibility {
    All,
    /// Only namespaces where this principal holds a role.
    MemberOf(PrincipalName),
}

#[async_trait]
pub trait Bindings: Send + Sync {
    async fn roles_of(&self, principal: &PrincipalName) -> Result<Vec<RoleBinding>>;
    /// Replaces a principal's roles in a scope.
    async fn set_roles(
        &self,
        principal: &PrincipalName,
        scope: &BindingScope,
        roles: &[Role],
        at: DateTime<Utc>,
        audit: &Pending,
    ) -> Result<()>;
    /// Bindings of a scope, ordered by principal, for principals after `after`.
    async fn members(
        &self,
        scope: &BindingScope,
        after: &str,
        limit: i64,
    ) -> Result<Vec<RoleBinding>>;
    /// Removes all of a principal's roles in a scope; `NotFound` when it had none.
    async fn remove_member(
        &self,
        scope: &BindingScope,
        principal: &PrincipalName,
        audit: &Pending,
    ) -> Result<()>;
}

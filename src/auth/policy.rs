//! The role → permission policy, evaluated by casbin. The model and policy ship
//! in `policy/` (embedded in the binary) and can be replaced by configuration.

use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};

use super::Action;
use crate::error::{Error, Result};
use crate::kinds::Role;

pub const DEFAULT_MODEL: &str = include_str!("../../policy/model.conf");
pub const DEFAULT_POLICY: &str = include_str!("../../policy/policy.csv");

/// Where a binding was made: in one namespace, or globally (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespace,
    Global,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Namespace => "namespace",
            Scope::Global => "global",
        }
    }
}

/// A loaded casbin enforcer. Only `auth::authorize` asks it anything.
pub struct Policy {
    enforcer: Enforcer,
}

impl Policy {
    /// The policy that ships with Signet.
    pub async fn embedded() -> Result<Self> {
        Self::from_text(DEFAULT_MODEL, DEFAULT_POLICY).await
    }

    pub async fn from_text(model: &str, policy: &str) -> Result<Self> {
        let model = DefaultModel::from_str(model)
            .await
            .map_err(|e| Error::invalid(format!("invalid RBAC model: {e}")))?;
        let enforcer = Enforcer::new(model, StringAdapter::new(policy))
            .await
            .map_err(|e| Error::invalid(format!("invalid RBAC policy: {e}")))?;
        Ok(Self { enforcer })
    }

    /// Loads the model and policy from files, or the embedded ones where a path
    /// is not given.
    pub async fn load(model: Option<&str>, policy: Option<&str>) -> Result<Self> {
        let read = |p: &str| {
            std::fs::read_to_string(p).map_err(|e| Error::invalid(format!("cannot read {p}: {e}")))
        };
        let model = model.map(read).transpose()?;
        let policy = policy.map(read).transpose()?;
        Self::from_text(
            model.as_deref().unwrap_or(DEFAULT_MODEL),
            policy.as_deref().unwrap_or(DEFAULT_POLICY),
        )
        .await
    }

    pub(super) fn allows(&self, role: Role, scope: Scope, action: Action) -> Result<bool> {
        self.enforcer
            .enforce((role.as_str(), scope.as_str(), action.as_str()))
            .map_err(Error::internal)
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Policy")
    }
}

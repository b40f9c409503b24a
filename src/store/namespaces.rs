//! Namespaces and their promotion policies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Result;
use crate::names::{Namespace, PrincipalName};
use crate::store::{Pending, Visibility};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NamespaceRecord {
    pub name: Namespace,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
}

#[async_trait]
pub trait Namespaces: Send + Sync {
    async fn create_namespace(&self, ns: &NamespaceRecord, audit: &Pending) -> Result<()>;
    async fn get_namespace(&self, name: &Namespace) -> Result<NamespaceRecord>;
    async fn list_namespaces(
        &self,
        vis: &Visibility,
        after: &str,
        limit: i64,
    ) -> Result<Vec<NamespaceRecord>>;
    /// The stored policy document (`{}` for the defaults).
    async fn get_policy(&self, namespace: &Namespace) -> Result<Value>;
    async fn set_policy(
        &self,
        namespace: &Namespace,
        policy: &Value,
        audit: &Pending,
    ) -> Result<()>;
}

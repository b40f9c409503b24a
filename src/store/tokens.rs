//! API tokens: only their hashes are stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::names::PrincipalName;
use crate::store::{Pending, RoleBinding};

/// A stored API token (never the secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: Uuid,
    pub principal: PrincipalName,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The token this one was minted with, when its owner minted it for itself:
    /// it expires no later than that one and is revoked with it.
    pub parent_id: Option<Uuid>,
    /// The ancestor whose revocation revoked this token (None when it was
    /// revoked itself, or is not revoked).
    pub revoked_with: Option<Uuid>,
    /// A console session: accepted only as the console's cookie, never as a
    /// bearer token (and API tokens never as the cookie).
    pub console: bool,
}

/// A token with every role binding of its principal and the access epoch, read
/// in one statement (one snapshot): what was kept of it is current while a later
/// statement finds the epoch unchanged.
#[derive(Debug, Clone)]
pub struct CredentialRecord {
    pub token: TokenRecord,
    pub roles: Vec<RoleBinding>,
    pub access_epoch: i64,
}

/// A registry token of the OCI face: a short-lived child of an API token,
/// scoped to some repositories (`namespace/model`), pull only.
#[derive(Debug, Clone)]
pub struct RegistryTokenRecord {
    pub id: Uuid,
    /// The API token it was minted with; it stands only while that one does.
    pub parent_id: Uuid,
    /// The repositories it may pull from, as `namespace/model`.
    pub repositories: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A registry token with its parent's credential, read in one statement.
#[derive(Debug, Clone)]
pub struct RegistryCredential {
    pub registry: RegistryTokenRecord,
    pub parent: CredentialRecord,
}

#[async_trait]
pub trait Tokens: Send + Sync {
    /// The token whose secret hashes to `hash`, with every role binding of its
    /// principal and the access epoch, read together (one statement: requests
    /// ask often).
    async fn credential(&self, hash: &[u8]) -> Result<Option<CredentialRecord>>;
    /// Creates the first admin token and its global binding, only when no token
    /// exists yet. Returns false (and writes nothing) when the database already
    /// has tokens.
    async fn bootstrap_admin(&self, token: &TokenRecord, secret_hash: &[u8]) -> Result<bool>;
    /// Records when a token was last used (informational; not audited).
    async fn touch_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    async fn create_token(
        &self,
        token: &TokenRecord,
        secret_hash: &[u8],
        audit: &Pending,
    ) -> Result<()>;
    async fn get_token(&self, id: Uuid) -> Result<TokenRecord>;
    /// Tokens ordered by id (creation time), after `after`, optionally of one principal.
    async fn list_tokens(
        &self,
        principal: Option<&PrincipalName>,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<TokenRecord>>;
    /// Tokens minted from this one, directly or through others.
    async fn token_descendants(&self, id: Uuid) -> Result<Vec<Uuid>>;
    /// Marks a token revoked (keeping the first revocation time), and with it
    /// every token minted from it, directly or through others, in one
    /// transaction; those record which ancestor took them down. Bumps the
    /// access epoch in the same transaction.
    async fn revoke_token(&self, id: Uuid, at: DateTime<Utc>, audit: &Pending) -> Result<()>;
    /// Keeps a registry token (its secret's hash), and forgets those that
    /// expired over an hour before it was made.
    async fn create_registry_token(
        &self,
        token: &RegistryTokenRecord,
        secret_hash: &[u8],
        audit: &Pending,
    ) -> Result<()>;
    /// The registry token whose secret hashes to `hash`, with its parent's
    /// credential (the parent token, its principal's role bindings, the access
    /// epoch), read together.
    async fn registry_credential(&self, hash: &[u8]) -> Result<Option<RegistryCredential>>;
}

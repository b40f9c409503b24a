//! Trusted publishers (the CI identities a namespace lets publish), the
//! publisher tokens minted for them, and the identity tokens already exchanged.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::kinds::Role;
use crate::names::{Namespace, PrincipalName, PublisherName};
use crate::store::Pending;

/// A trusted publisher: who may exchange an identity token for a publisher
/// token in a namespace (an issuer and claims that must match exactly), and
/// what the token may do there.
#[derive(Debug, Clone, PartialEq)]
pub struct PublisherRecord {
    /// Changes with every replacement: tokens minted under an older one stop.
    pub id: Uuid,
    pub namespace: Namespace,
    pub name: PublisherName,
    pub issuer: String,
    pub claims: BTreeMap<String, String>,
    pub roles: Vec<Role>,
    pub bind_commit: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: PrincipalName,
}

/// A publisher token just minted (never its secret): the identity it was
/// minted for, as the identity token's claims summarised it.
#[derive(Debug, Clone)]
pub struct PublisherTokenRecord {
    pub id: Uuid,
    pub publisher_id: Uuid,
    pub identity: Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An identity token's one exchange: its issuer and `jti`, kept until it
/// expires.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub issuer: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait Publishers: Send + Sync {
    /// Creates or replaces the publisher of that namespace and name (a
    /// replacement takes the record's new id).
    async fn put_publisher(&self, p: &PublisherRecord, audit: &Pending) -> Result<()>;
    /// A namespace's publishers, by name.
    async fn publishers(&self, ns: &Namespace) -> Result<Vec<PublisherRecord>>;
    /// Every publisher of an issuer, in every namespace.
    async fn publishers_of_issuer(&self, issuer: &str) -> Result<Vec<PublisherRecord>>;
    /// Removes a publisher (`NotFound` when there is none); its tokens stop.
    async fn delete_publisher(
        &self,
        ns: &Namespace,
        name: &PublisherName,
        audit: &Pending,
    ) -> Result<()>;
    /// Records an identity token's exchange and keeps the publisher token
    /// minted for it, in one transaction. Returns false (and keeps nothing)
    /// when that identity token was exchanged before. Forgets exchanges and
    /// tokens that expired over an hour ago.
    async fn exchange(
        &self,
        exchange: &Exchange,
        token: &PublisherTokenRecord,
        secret_hash: &[u8],
        audit: &Pending,
    ) -> Result<bool>;
    /// The publisher token whose secret hashes to `hash`, with its publisher
    /// as it stands now (none when the publisher was removed or replaced).
    async fn publisher_credential(
        &self,
        hash: &[u8],
    ) -> Result<Option<(PublisherTokenRecord, PublisherRecord)>>;
}

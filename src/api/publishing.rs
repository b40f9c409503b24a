//! Trusted publishing: the CI identities a namespace lets publish, and the
//! exchange of a CI job's identity token for a publisher token (RFC 8693).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kinds::Role;

/// The path of the exchange.
pub const OIDC_TOKEN: &str = "/v1/oidc/token";

/// A trusted publisher as set: who may publish (an issuer and claims that
/// must all match exactly) and what its tokens may do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPublisher {
    /// The identity provider, exactly as its tokens' `iss` reads (one of the
    /// registry's `SIGNET_OIDC_ISSUERS`).
    #[schema(
        max_length = 512,
        example = "https://token.actions.githubusercontent.com"
    )]
    pub issuer: String,
    /// Claims the identity token must carry, each with exactly this string
    /// value. Naming `repository` requires `repository_owner_id`, and
    /// `project_path` requires `namespace_id`; at least one of `sub`,
    /// `repository_owner_id`, `repository_id`, `namespace_id`, `project_id`
    /// must be named.
    pub claims: BTreeMap<String, String>,
    /// What its tokens may do in the namespace: `publisher`, `approver` or both.
    #[schema(min_items = 1, max_items = 2)]
    pub roles: Vec<Role>,
    /// Whether a version it creates must declare the job's commit and
    /// repository as `lineage.code` (default true).
    #[serde(default)]
    pub bind_commit: Option<bool>,
}

/// A namespace's trusted publisher.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedPublisher {
    pub namespace: String,
    pub name: String,
    /// The principal its tokens act as (`oidc:<namespace>/<name>`).
    pub principal: String,
    pub issuer: String,
    pub claims: BTreeMap<String, String>,
    pub roles: Vec<Role>,
    pub bind_commit: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedPublisherList {
    pub items: Vec<TrustedPublisher>,
}

/// The exchange's grant type (RFC 8693).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum GrantType {
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// The type of the token exchanged: an identity token (a JWT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SubjectTokenType {
    #[serde(rename = "urn:ietf:params:oauth:token-type:jwt")]
    Jwt,
}

/// The type of the token issued: an access token (a Signet bearer token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum IssuedTokenType {
    #[serde(rename = "urn:ietf:params:oauth:token-type:access_token")]
    AccessToken,
}

/// What `scope` matches: `publisher:<namespace>/<name>`.
pub const PUBLISHER_SCOPE_PATTERN: &str =
    "^publisher:[a-z0-9][a-z0-9._-]{0,62}/[a-z0-9][a-z0-9._-]{0,62}$";

/// The exchange's form (`application/x-www-form-urlencoded`), as RFC 8693
/// names its fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchange {
    pub grant_type: GrantType,
    /// The CI job's identity token (a JWT).
    #[schema(max_length = 16384)]
    pub subject_token: String,
    pub subject_token_type: SubjectTokenType,
    #[serde(default)]
    #[schema(nullable = false)]
    pub requested_token_type: Option<IssuedTokenType>,
    /// `publisher:<namespace>/<name>`: which publisher, when the identity
    /// matches several.
    #[serde(default)]
    #[schema(
        nullable = false,
        pattern = "^publisher:[a-z0-9][a-z0-9._-]{0,62}/[a-z0-9][a-z0-9._-]{0,62}$"
    )]
    pub scope: Option<String>,
}

/// A publisher token (RFC 8693's answer).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExchangedToken {
    /// The token: send it as `Authorization: Bearer`. Shown once.
    pub access_token: String,
    pub issued_token_type: IssuedTokenType,
    /// `Bearer`
    pub token_type: String,
    /// Seconds it lives.
    pub expires_in: u64,
    /// The scope it was issued for: `publisher:<namespace>/<name>`.
    pub scope: String,
}

/// A version's CI provenance: where the job that created it ran, from its
/// identity token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CiProvenance {
    /// The trusted publisher the job published as (`namespace/name`).
    pub publisher: String,
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// GitHub's `repository`, GitLab's `project_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// GitHub's `workflow_ref`, GitLab's `ci_config_ref_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_ref: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// GitHub's `run_id`, GitLab's `pipeline_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<String>,
    /// GitLab's `job_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// GitHub's `actor`, GitLab's `user_login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

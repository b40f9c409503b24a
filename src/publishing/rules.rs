//! What a trusted publisher may name, and when an identity matches one.

use std::collections::BTreeMap;

use crate::api::PutPublisher;
use crate::error::{Error, Result};
use crate::kinds::Role;
use crate::oidc::Identity;
use crate::store::PublisherRecord;

/// Most claims one publisher names.
pub const MAX_CLAIMS: usize = 16;
/// Claims that pin an identity to one owner or subject for good: a
/// publisher names at least one of them.
pub const PINNING_CLAIMS: [&str; 5] = [
    "sub",
    "repository_owner_id",
    "repository_id",
    "namespace_id",
    "project_id",
];
/// Claims a publisher cannot name: the token's own envelope, checked apart.
const RESERVED: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];
/// A name claim that a renamed and re-registered owner could take over, and
/// the immutable id that must come with it.
const NEEDS_ID: [(&str, &str); 2] = [
    ("repository", "repository_owner_id"),
    ("project_path", "namespace_id"),
];

/// A publisher's settings, checked.
pub struct Checked {
    pub issuer: String,
    pub claims: BTreeMap<String, String>,
    pub roles: Vec<Role>,
    pub bind_commit: bool,
}

/// Checks a publisher's settings: an accepted issuer; 1 to 16 claims with
/// plain names and printable values, none of the envelope's, the ids that
/// names need, and at least one pinning claim; `publisher` and/or
/// `approver`, nothing more.
pub fn check(spec: PutPublisher, accepted: impl Fn(&str) -> bool) -> Result<Checked> {
    if !accepted(&spec.issuer) {
        return Err(Error::InvalidPublisher(format!(
            "issuer {:?} is not an identity provider this registry accepts (SIGNET_OIDC_ISSUERS); \
             it must be written exactly as its tokens' iss",
            shown(&spec.issuer)
        )));
    }
    if spec.claims.is_empty() || spec.claims.len() > MAX_CLAIMS {
        return Err(Error::InvalidPublisher(format!(
            "claims names 1 to {MAX_CLAIMS} claims the identity token must carry"
        )));
    }
    for (name, value) in &spec.claims {
        check_claim(name, value)?;
    }
    for (name, id) in NEEDS_ID {
        if spec.claims.contains_key(name) && !spec.claims.contains_key(id) {
            return Err(Error::InvalidPublisher(format!(
                "a publisher naming claim {name} must also name {id}: a name can be taken over \
                 by whoever registers it next, the id cannot"
            )));
        }
    }
    if !PINNING_CLAIMS.iter().any(|c| spec.claims.contains_key(*c)) {
        return Err(Error::InvalidPublisher(format!(
            "a publisher must name at least one of the claims {}: without one, any job of the \
             identity provider could match",
            PINNING_CLAIMS.join(", ")
        )));
    }
    let mut roles = spec.roles;
    roles.sort();
    roles.dedup();
    if roles.is_empty()
        || roles
            .iter()
            .any(|r| !matches!(r, Role::Publisher | Role::Approver))
    {
        return Err(Error::InvalidPublisher(
            "roles grants publisher, approver or both, and nothing else".into(),
        ));
    }
    Ok(Checked {
        issuer: spec.issuer,
        claims: spec.claims,
        roles,
        bind_commit: spec.bind_commit.unwrap_or(true),
    })
}

fn check_claim(name: &str, value: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'));
    if !plain {
        return Err(Error::InvalidPublisher(format!(
            "claim name {:?} must be 1 to 64 characters of [A-Za-z0-9_.:-]",
            shown(name)
        )));
    }
    if RESERVED.contains(&name) {
        return Err(Error::InvalidPublisher(format!(
            "claim {name} is checked by the exchange itself and cannot be named"
        )));
    }
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
        return Err(Error::InvalidPublisher(format!(
            "claim {name}'s value must be 1 to 512 characters, none a control character"
        )));
    }
    Ok(())
}

/// At most 64 characters of a value, to name it in an error.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Whether an identity matches a publisher: the same issuer, and every
/// claim the publisher names carried as exactly that string.
pub fn matches(p: &PublisherRecord, identity: &Identity) -> bool {
    p.issuer == identity.issuer
        && p.claims
            .iter()
            .all(|(name, want)| identity.claim(name) == Some(want.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB: &str = "https://token.actions.githubusercontent.com";

    fn spec(claims: &[(&str, &str)], roles: &[Role]) -> PutPublisher {
        PutPublisher {
            issuer: GITHUB.into(),
            claims: claims
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            roles: roles.to_vec(),
            bind_commit: None,
        }
    }

    fn ok(s: PutPublisher) -> bool {
        check(s, |i| i == GITHUB).is_ok()
    }

    #[test]
    fn a_repository_name_needs_its_owners_id_whatever_the_issuer() {
        let publish = [Role::Publisher];
        assert!(!ok(spec(&[("repository", "acme/train")], &publish)));
        assert!(!ok(spec(
            &[
                ("repository", "acme/train"),
                ("sub", "repo:acme/train:ref:refs/heads/main")
            ],
            &publish
        )));
        assert!(ok(spec(
            &[("repository", "acme/train"), ("repository_owner_id", "42")],
            &publish
        )));
        assert!(!ok(spec(
            &[("project_path", "g/p"), ("project_id", "7")],
            &publish
        )));
        assert!(ok(spec(
            &[("project_path", "g/p"), ("namespace_id", "7")],
            &publish
        )));
    }

    #[test]
    fn a_publisher_pins_an_owner_grants_at_most_publish_and_approve() {
        let publish = [Role::Publisher];
        assert!(
            !ok(spec(&[("ref", "refs/heads/main")], &publish)),
            "matches any repository"
        );
        assert!(!ok(spec(&[], &publish)));
        let owner = [("repository_owner_id", "42")];
        assert!(ok(spec(&owner, &[Role::Publisher, Role::Approver])));
        for role in [Role::Maintainer, Role::Admin, Role::Deployer, Role::Reader] {
            assert!(!ok(spec(&owner, &[Role::Publisher, role])), "{role:?}");
        }
        assert!(!ok(spec(&owner, &[])));
        assert!(!ok(spec(
            &[("repository_owner_id", "42"), ("aud", "x")],
            &publish
        )));
        assert!(!ok(spec(&[("repository_owner_id", "4\n2")], &publish)));
        assert!(!ok(spec(&[("bad name", "x"), ("sub", "s")], &publish)));
        let mut other = spec(&owner, &publish);
        other.issuer = format!("{GITHUB}/");
        assert!(!ok(other), "the issuer is compared exactly");
        let checked = check(spec(&owner, &publish), |_| true).unwrap();
        assert!(checked.bind_commit, "binding the commit is the default");
    }
}

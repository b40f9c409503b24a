//! Trusted keys: registering, listing and revoking them.

use chrono::{DateTime, Utc};

use super::Trust;
use crate::auth::{Global, Manage, Principal, Read, ScopePermit, authorize_scope};
use crate::error::{Error, Result};
use crate::kinds::{BindingScope, RevocationReason};
use crate::names::{AliasName, KeyId, KeyName, PrincipalName, Reason};
use crate::page::{Page, Paged};
use crate::signing::keys::{KeyError, PublicKey, parse_public_key};
use crate::store::{KeyRecord, VersionRecord};

/// A key as one principal may see it: only the namespaces of its scope that the
/// principal can read (and `*`), and who registered it only for those who manage
/// one of those namespaces.
#[derive(Debug, Clone)]
pub struct ShownKey {
    pub key: KeyRecord,
    pub namespaces: Vec<BindingScope>,
    pub created_by: Option<PrincipalName>,
}

impl ShownKey {
    /// `None` when the principal may see nothing of the key: it is scoped only to
    /// namespaces the principal cannot read.
    fn of(p: &Principal, key: KeyRecord) -> Option<Self> {
        let namespaces: Vec<BindingScope> = key
            .namespaces
            .0
            .iter()
            .filter(|scope| match scope {
                BindingScope::Global => true,
                BindingScope::Namespace(ns) => p.may::<Read>(ns),
            })
            .cloned()
            .collect();
        if namespaces.is_empty() {
            return None;
        }
        let manages = key.namespaces.0.iter().any(|scope| match scope {
            BindingScope::Global => p.may_globally::<Manage>(Global::All),
            BindingScope::Namespace(ns) => p.may::<Manage>(ns),
        });
        let created_by = manages.then(|| key.created_by.clone());
        Some(Self {
            key,
            namespaces,
            created_by,
        })
    }
}

/// A version that a revocation left without enough valid signatures, and the
/// aliases that now point at it.
#[derive(Debug, Clone)]
pub struct LostVerification {
    pub version: VersionRecord,
    pub aliases: Vec<AliasName>,
}

impl Trust {
    /// Registers a public key for the scopes the permits cover (one permit per
    /// namespace of the key's scope, or one for `*`). Only Ed25519 SPKI PEM is
    /// accepted.
    pub async fn register_key(
        &self,
        permits: &[ScopePermit<Manage>],
        name: KeyName,
        pem: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ShownKey> {
        let first = permits
            .first()
            .ok_or_else(|| Error::invalid("namespaces must name at least one namespace, or *"))?;
        let key = parse_public_key(pem).map_err(|e| match e {
            KeyError::Unreadable | KeyError::Ambiguous => Error::invalid(e.to_string()),
            KeyError::UnsupportedAlgorithm => Error::UnsupportedAlgorithm(e.to_string()),
            KeyError::SmallOrder | KeyError::NonCanonical => Error::WeakKey(e.to_string()),
        })?;
        self.refuse_known(&key).await?;
        let mut namespaces: Vec<BindingScope> = permits.iter().map(|p| p.scope().clone()).collect();
        namespaces.sort();
        namespaces.dedup();
        // A key scoped to a namespace that does not exist would wait for
        // whoever creates one of that name.
        for ns in namespaces.iter().filter_map(BindingScope::namespace) {
            let found = self.namespaces.get_namespace(ns).await;
            found.map_err(|e| e.named(|| format!("namespace {ns}")))?;
        }
        let k = KeyRecord {
            keyid: key.id.clone(),
            material: Some(key.id),
            name: name.into_string(),
            algorithm: key.key.algorithm(),
            public_key: key.pem,
            namespaces: sqlx::types::Json(namespaces),
            expires_at,
            created_at: Utc::now(),
            created_by: first.by().clone(),
            revoked_at: None,
            revocation_reason: None,
            revocation_note: None,
        };
        self.keys.create_key(&k, &first.pending()).await?;
        // Its registrant manages every namespace of its scope: it sees it whole.
        Ok(ShownKey {
            namespaces: k.namespaces.0.clone(),
            created_by: Some(k.created_by.clone()),
            key: k,
        })
    }

    /// Refuses key material that is registered already, under whatever text or
    /// keyid, revoked or not; a key revoked as compromised never returns.
    async fn refuse_known(&self, key: &PublicKey) -> Result<()> {
        let rows = self.keys.all_keys().await?;
        let known = rows.iter().find(|k| {
            k.material.as_ref() == Some(&key.id)
                || parse_public_key(&k.public_key).is_ok_and(|p| p.id == key.id)
        });
        match known {
            None => Ok(()),
            Some(k) if k.revocation_reason == Some(RevocationReason::Compromised) => {
                Err(Error::Conflict(format!(
                    "this key was revoked as compromised (keyid {}); it cannot be registered again",
                    k.keyid
                )))
            }
            Some(k) => Err(Error::Conflict(format!(
                "this key is already registered (keyid {})",
                k.keyid
            ))),
        }
    }

    /// Registered keys, as far as the principal may see them.
    pub async fn keys(&self, p: &Principal, page: &Page) -> Result<Paged<ShownKey>> {
        let rows = self.keys.list_keys(page.after_text(), page.limit()).await?;
        let paged = Paged::new(rows, page, |k| k.keyid.to_string());
        Ok(Paged {
            items: paged
                .items
                .into_iter()
                .filter_map(|k| ShownKey::of(p, k))
                .collect(),
            next_cursor: paged.next_cursor,
        })
    }

    /// One key, if the principal may see it (otherwise `NotFound`).
    pub async fn key(&self, p: &Principal, keyid: &KeyId) -> Result<ShownKey> {
        let what = || format!("key {keyid}");
        let key = self.keys.get_key(keyid).await.map_err(|e| e.named(what))?;
        ShownKey::of(p, key).ok_or_else(|| Error::Missing(what()))
    }

    /// The versions a key has signed that the principal may read: what depends
    /// on the key, and would lose its signature were the key compromised.
    pub async fn signed_by(&self, p: &Principal, keyid: &KeyId) -> Result<Vec<VersionRecord>> {
        let mut signed = self.keys.versions_signed_by(keyid).await?;
        signed.retain(|v| p.may::<Read>(&v.namespace));
        Ok(signed)
    }

    /// Revokes a key and reports the versions that lost verification because of
    /// it, with the aliases that now point at them.
    ///
    /// Revoking only removes trust: any maintainer of a namespace the key signs
    /// for may do it, so a compromise is contained without waiting for an admin.
    pub async fn revoke_key(
        &self,
        p: &Principal,
        keyid: &KeyId,
        reason: RevocationReason,
        note: Reason,
    ) -> Result<(ShownKey, Vec<LostVerification>)> {
        let key = self.key(p, keyid).await?.key;
        let permit = key
            .namespaces
            .0
            .iter()
            .find_map(|scope| authorize_scope::<Manage>(p, scope).ok())
            .ok_or_else(Error::forbidden)?;
        permit.record("keyid", keyid.to_string().into());
        permit.record("reason", reason.as_str().into());
        let scopes: Vec<String> = key.namespaces.0.iter().map(ToString::to_string).collect();
        permit.record("namespaces", scopes.into());
        if !note.as_str().is_empty() {
            permit.record("note", note.as_str().into());
        }
        let signed = self.keys.versions_signed_by(keyid).await?;
        let mut was_verified = Vec::new();
        for v in &signed {
            let files = self.registry.files_of(v).await?;
            was_verified.push(self.verification(v, &files).await?.is_verified());
        }
        self.keys
            .revoke_key(keyid, reason, note.as_str(), &permit.pending())
            .await?;
        let mut lost = Vec::new();
        for (v, before) in signed.into_iter().zip(was_verified) {
            let files = self.registry.files_of(&v).await?;
            if before && !self.verification(&v, &files).await?.is_verified() {
                let aliases = self.registry.aliases_at(&v).await?;
                lost.push(LostVerification {
                    version: v,
                    aliases,
                });
            }
        }
        Ok((self.key(p, keyid).await?, lost))
    }
}

//! The registry's word on a pinned key: a deployer pins keys itself, but a
//! key the registry has revoked must stop counting there too. The answer can
//! only make the client refuse a signature, never accept one: a key the
//! registry does not know, or does not show this caller, keeps counting.

use chrono::{DateTime, Utc};

use super::{Client, Exit, Failure};
use crate::api::{KeyView, VersionView, paths};
use crate::names::{KeyId, ModelRef, VersionNumber};

/// Why the registry's revocation of `key` cancels its signature of this
/// version (none: it still counts). A key revoked as compromised counts for
/// nothing; a retired key only for a signature the registry received before
/// the retirement.
pub(super) async fn cancelled(
    client: &Client,
    key: &KeyId,
    model: &ModelRef,
    number: VersionNumber,
) -> Result<Option<String>, Failure> {
    verdict(client, key, (model, number), None).await
}

/// [`cancelled`] for a document by `key` the registry received at
/// `received_at` (an attestation): a retired key counts only for what it made
/// before its retirement.
pub(super) async fn cancelled_since(
    client: &Client,
    key: &KeyId,
    (model, number): (&ModelRef, VersionNumber),
    received_at: DateTime<Utc>,
) -> Result<Option<String>, Failure> {
    verdict(client, key, (model, number), Some(received_at)).await
}

async fn verdict(
    client: &Client,
    key: &KeyId,
    (model, number): (&ModelRef, VersionNumber),
    received_at: Option<DateTime<Utc>>,
) -> Result<Option<String>, Failure> {
    let shown: KeyView = match client.get(&paths::key(key)).await {
        Ok(k) => k,
        Err(f) if f.exit == Exit::NotFoundOrDenied => return Ok(None),
        Err(f) => return Err(f),
    };
    let (Some(reason), Some(at)) = (shown.revocation_reason.as_deref(), shown.revoked_at) else {
        return Ok(None);
    };
    let named = match shown.name.as_str() {
        "" => format!("key {key}"),
        name => format!("key {name} ({key})"),
    };
    let note = shown
        .revocation_note
        .filter(|n| !n.is_empty())
        .map(|n| format!(": {n}"))
        .unwrap_or_default();
    if reason == "retired" {
        let signed_at = match received_at {
            Some(at) => Some(at),
            None => signed_at(client, key, model, number).await?,
        };
        if signed_at.is_some_and(|s| s < at) {
            return Ok(None);
        }
        return Ok(Some(format!(
            "the registry retired {named} at {at}{note}, before it signed {model}@{number}"
        )));
    }
    Ok(Some(format!(
        "the registry revoked {named} as {reason} at {at}{note}; none of its signatures count"
    )))
}

/// When the registry received the earliest signature by `key` of this version.
async fn signed_at(
    client: &Client,
    key: &KeyId,
    model: &ModelRef,
    number: VersionNumber,
) -> Result<Option<DateTime<Utc>>, Failure> {
    let v: VersionView = client.get(&paths::version(model, number)).await?;
    Ok(v.signatures
        .iter()
        .filter(|s| &s.keyid == key)
        .map(|s| s.received_at)
        .min())
}

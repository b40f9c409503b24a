//! What a client checks of attestations and promotion records here, against
//! keys it pins: `signet pull --require-attestation` and `signet alias history
//! --registry-key`.

use super::local::unverified;
use super::{Client, Failure};
use crate::api::{AttestationList, paths};
use crate::names::{KeyId, ModelRef, VersionNumber};
use crate::signing::keys::PublicKey;
use crate::signing::pinned::{Claims, attestation_pinned, record_pinned};
use crate::signing::statement::STATEMENT_TYPE;

/// An attestation of `predicate_type` about the files `claims` lists (checked
/// against a pinned key's signature already), signed by a pinned key whose
/// signature the registry's revocations do not cancel: the newest such.
/// Answers its id and the key's.
pub(super) async fn pinned_attestation(
    client: &Client,
    keys: &[PublicKey],
    claims: &Claims,
    (model, number): (&ModelRef, VersionNumber),
    predicate_type: &str,
) -> Result<(uuid::Uuid, KeyId), Failure> {
    let path = format!(
        "{}?predicate_type={}",
        paths::attestations(model, number),
        super::listing::encode(predicate_type)
    );
    let list: AttestationList = client.get(&path).await?;
    let mut why = Vec::new();
    for a in list.items.iter().rev() {
        let checked = attestation_pinned(a.envelope.get().as_bytes(), keys, claims, predicate_type);
        match checked {
            Ok((keyid, _)) => {
                match super::revocation::cancelled_since(
                    client,
                    &keyid,
                    (model, number),
                    a.received_at,
                )
                .await?
                {
                    None => return Ok((a.id, keyid)),
                    Some(revoked) => why.push(format!("attestation {}: {revoked}", a.id)),
                }
            }
            Err(e) => why.push(format!("attestation {}: {e}", a.id)),
        }
    }
    let found = match why.is_empty() {
        true => "none is stored".to_owned(),
        false => why.join("; "),
    };
    Err(unverified(format!(
        "{model}@{number} has no attestation of {predicate_type} signed by a pinned key: {found}"
    )))
}

/// Checks a promotion record against the registry's pinned key: signed by
/// it, a statement of the promotion-record predicate naming this model,
/// alias, version and previous version.
pub(super) fn check_record(
    doc: &str,
    key: &PublicKey,
    model: &ModelRef,
    alias: &crate::names::AliasName,
    mv: &crate::api::AliasMoveView,
) -> Result<(), String> {
    let st = record_pinned(doc.as_bytes(), key)?;
    let p = &st["predicate"]["signet"];
    let holds = st["_type"] == STATEMENT_TYPE
        && st["predicateType"] == crate::api::PROMOTION_PREDICATE
        && p["model"] == model.to_string().as_str()
        && p["alias"] == alias.as_str()
        && p["version"].as_i64() == mv.version
        && p["previousVersion"].as_i64() == mv.previous_version
        && p["by"] == mv.principal.as_str();
    match holds {
        true => Ok(()),
        false => Err("its statement does not state this move".into()),
    }
}

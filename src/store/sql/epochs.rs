//! The two epochs every replica checks what it keeps against: trust (keys,
//! policies, quarantines) and access (tokens, role bindings). A write that
//! changes either starts by bumping it, which takes the epoch row's lock until
//! the transaction ends.

use chrono::{DateTime, Utc};

use super::{Db, WriteTx};
use crate::error::{Error, Result};

/// Starts a change of trust (a key registered or revoked, a quarantine imposed
/// or lifted, a policy replaced): bumps the trust epoch, which takes its row's
/// lock until the transaction ends, and answers the time to record, read after
/// the lock so it orders with the promotions it serializes against. Whatever a
/// process keeps of trust material is valid only at the epoch it was read at.
pub(super) async fn change_trust(tx: &mut WriteTx<Db>) -> Result<DateTime<Utc>> {
    sqlx::query("UPDATE trust_epoch SET n = n + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(Utc::now())
}

/// Holds the trust epoch at `expected` for the rest of the transaction, or
/// `TrustChanged` when something removed trust since it was read. The hold is a
/// shared lock (`super::HOLD_TRUST`): promotions hold it together, and a removal
/// of trust, which updates the row, waits for them and they for it. Answers the
/// time to record, read after the lock.
pub(super) async fn hold_trust(tx: &mut WriteTx<Db>, expected: i64) -> Result<DateTime<Utc>> {
    let n: i64 = sqlx::query_scalar(super::HOLD_TRUST)
        .fetch_one(&mut **tx)
        .await?;
    if n != expected {
        return Err(Error::TrustChanged);
    }
    Ok(Utc::now())
}

/// Starts a change of access (a token revoked, a principal's roles in a scope
/// replaced or removed): bumps the access epoch, so every credential a replica
/// kept from before is read afresh on its next use.
pub(super) async fn change_access(tx: &mut WriteTx<Db>) -> Result<()> {
    sqlx::query("UPDATE access_epoch SET n = n + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

//! Aliases: promotion through the gate, removal, resolution and history.

use super::records::Promotion;
use super::{Trust, VersionDetails};
use crate::auth::{Permit, Promote, Read};
use crate::error::{Error, Result};
use crate::names::{AliasName, ModelName, Reason, Sha256, VersionNumber};
use crate::page::{Page, Paged};
use crate::store::{AliasMove, NewAliasMove, RecordFn};

impl Trust {
    /// Points an alias at a version: a promotion. Refused with every reason
    /// unless the version passes the gate now.
    ///
    /// The judgement and the move are one step: the gate judges at a trust epoch
    /// and the move happens only if no revocation, quarantine or policy change
    /// landed since, under the epoch's lock (which those changes take too).
    /// When one did, the version is judged again against the new state.
    pub async fn promote(
        &self,
        permit: &Permit<Promote>,
        name: &ModelName,
        alias: &AliasName,
        number: VersionNumber,
        reason: Reason,
    ) -> Result<VersionDetails> {
        /// Judgements before giving up under a storm of trust changes.
        const ROUNDS: usize = 8;
        let v = self.registry.version(permit, name, number).await?;
        let model = permit.model(name);
        // What a webhook's consumer acts on without another call.
        permit.record("alias", alias.as_str().into());
        permit.record("version", number.get().into());
        if let Some(root) = &v.root_digest {
            permit.record("root_digest", root.to_string().into());
        }
        if !reason.as_str().is_empty() {
            permit.record("reason", reason.as_str().into());
        }
        for _ in 0..ROUNDS {
            let epoch = self.keys.trust_epoch().await?;
            let gate = self.check_promotion(&v, alias).await?;
            let ok = gate.outcome.map_err(|reasons| {
                for r in &reasons {
                    crate::metrics::promotion_refused(r.reason.as_str());
                }
                permit.refused(crate::api::refusals::codes(&reasons));
                Error::PromotionRefused(reasons)
            })?;
            let root = v.root_digest.unwrap_or_else(|| Sha256::from_bytes([0; 32]));
            let promotion = Promotion {
                model: &model,
                version: ok.version,
                root: &root,
                alias: &ok.alias,
                by: permit.by(),
                reason: reason.as_str(),
                held: &ok.held,
            };
            let promotion = &promotion;
            let sign = self
                .records
                .as_deref()
                .map(|r| move |previous, at| r.sign(promotion, previous, at));
            let record = sign.as_ref().map(|f| f as &RecordFn);
            let moved = self
                .aliases
                .move_alias(
                    &NewAliasMove {
                        model: &model,
                        alias: &ok.alias,
                        version: Some(ok.version),
                        principal: permit.by(),
                        reason: reason.as_str(),
                        judged_at_epoch: Some(epoch),
                        record,
                    },
                    &permit.pending(),
                )
                .await;
            match moved {
                Ok(_) => {
                    let aliases = self.registry.aliases_at(&v).await?;
                    return Ok(VersionDetails {
                        version: v,
                        files: gate.files,
                        verification: gate.verification,
                        aliases,
                        quarantined: gate.quarantined,
                    });
                }
                Err(Error::TrustChanged) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::TrustChanged)
    }

    /// Removes an alias; the removal is recorded in its history.
    pub async fn remove_alias(
        &self,
        permit: &Permit<Promote>,
        name: &ModelName,
        alias: &AliasName,
        reason: Reason,
    ) -> Result<()> {
        let model = permit.model(name);
        self.registry.model_exists(&model).await?;
        permit.record("alias", alias.as_str().into());
        if !reason.as_str().is_empty() {
            permit.record("reason", reason.as_str().into());
        }
        self.aliases
            .move_alias(
                &NewAliasMove {
                    model: &model,
                    alias,
                    version: None,
                    principal: permit.by(),
                    reason: reason.as_str(),
                    judged_at_epoch: None,
                    record: None,
                },
                &permit.pending(),
            )
            .await?;
        Ok(())
    }

    /// The version an alias points at (how deployers resolve `production`).
    pub async fn resolve(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        alias: &AliasName,
    ) -> Result<VersionDetails> {
        let (_, number) = self
            .aliases
            .aliases_of(&permit.model(name))
            .await?
            .into_iter()
            .find(|(a, _)| a == alias)
            .ok_or_else(|| Error::Missing(format!("alias {}@{alias}", permit.model(name))))?;
        self.version(permit, name, number).await
    }

    /// Every move of an alias, newest first.
    /// An alias's moves (every alias's, without one), newest first.
    pub async fn alias_history(
        &self,
        permit: &Permit<Read>,
        name: &ModelName,
        alias: Option<&AliasName>,
        page: &Page,
    ) -> Result<Paged<AliasMove>> {
        let model = permit.model(name);
        self.registry.model_exists(&model).await?;
        let before = page.after::<i64>()?.unwrap_or(i64::MAX);
        let moves = self
            .aliases
            .alias_history(&model, alias, before, page.limit())
            .await?;
        Ok(Paged::new(moves, page, |m| m.id.to_string()))
    }
}

//! The namespace's management from the client: tokens, members, policy,
//! keys, quarantines.

use reqwest::Method;
use serde_json::{Value, json};

use super::Failure;
use super::commands::signed_in;
use super::listing::{encode, list_done, listed, usage};
use super::outcome::{Done, to_json};
use crate::api::{
    CreateQuarantine, CreateToken, CreatedToken, KeyView, Member, QuarantineCreated,
    QuarantineView, Revoke, Revoked, SetRoles, TokenView, WhoAmI, paths,
};
use crate::kinds::BindingScope;
use crate::names::{Description, KeyId, Namespace, PrincipalName, Reason, RequiredReason};

/// `signet token create [--principal P] [--description T] [--expires-in-days N]`:
/// the secret is printed this once.
pub async fn token_create(
    principal: Option<&str>,
    description: Option<&str>,
    days: Option<u32>,
) -> Result<Done, Failure> {
    let client = signed_in()?;
    let principal = match principal {
        Some(p) => PrincipalName::parse(p).map_err(usage("--principal"))?,
        None => {
            let who: WhoAmI = client.get(paths::WHOAMI).await?;
            PrincipalName::parse(&who.principal).map_err(usage("principal"))?
        }
    };
    let body = CreateToken {
        principal,
        description: Description::parse(description.unwrap_or_default())
            .map_err(usage("--description"))?,
        expires_in_days: days,
    };
    let t: CreatedToken = client
        .exchange(Method::POST, paths::TOKENS, Some(&body))
        .await?;
    Ok(Done {
        human: format!(
            "{}\n(token {} for {}, expires {}; shown once)",
            t.token,
            t.id,
            t.principal,
            t.expires_at.map_or("never".to_owned(), |e| e.to_string())
        ),
        json: to_json(&t),
    })
}

/// `signet token list`.
pub async fn token_list(limit: usize) -> Result<Done, Failure> {
    let (items, more) = listed::<TokenView>(&signed_in()?, paths::TOKENS, limit).await?;
    Ok(list_done(&items, more, |t| {
        let state = match (t.revoked_at, t.expires_at) {
            (Some(r), _) => format!("revoked {r}"),
            (None, Some(e)) => format!("expires {e}"),
            (None, None) => "no expiry".to_owned(),
        };
        format!("{}  {}  {}  {}", t.id, t.principal, state, t.description)
    }))
}

/// `signet token revoke ID`.
pub async fn token_revoke(id: &str) -> Result<Done, Failure> {
    let id = uuid::Uuid::try_parse(id).map_err(usage("ID"))?;
    signed_in()?
        .exchange::<(), ()>(Method::DELETE, &format!("{}/{id}", paths::TOKENS), None)
        .await?;
    Ok(Done {
        human: format!("token {id} revoked"),
        json: json!({ "id": id, "revoked": true }),
    })
}

fn members_path(ns: &str) -> Result<String, Failure> {
    let ns = Namespace::parse(ns).map_err(usage("NAMESPACE"))?;
    Ok(format!("{}/{ns}/members", paths::NAMESPACES))
}

/// `signet member list NS`.
pub async fn member_list(ns: &str, limit: usize) -> Result<Done, Failure> {
    let (items, more) = listed::<Member>(&signed_in()?, &members_path(ns)?, limit).await?;
    Ok(list_done(&items, more, |m| {
        let roles: Vec<&str> = m.roles.iter().map(|r| r.as_str()).collect();
        format!("{}  {}", m.principal, roles.join(", "))
    }))
}

/// `signet member set NS PRINCIPAL --role R…`: replaces that principal's roles.
pub async fn member_set(ns: &str, principal: &str, roles: &[String]) -> Result<Done, Failure> {
    let who = PrincipalName::parse(principal).map_err(usage("PRINCIPAL"))?;
    let roles = roles
        .iter()
        .map(|r| crate::kinds::Role::parse(r).map_err(usage("--role")))
        .collect::<Result<Vec<_>, _>>()?;
    let path = format!("{}/{who}", members_path(ns)?);
    let m: Member = signed_in()?
        .exchange(Method::PUT, &path, Some(&SetRoles { roles }))
        .await?;
    let shown: Vec<&str> = m.roles.iter().map(|r| r.as_str()).collect();
    Ok(Done {
        human: format!("{} in {}: {}", m.principal, ns, shown.join(", ")),
        json: to_json(&m),
    })
}

/// `signet member remove NS PRINCIPAL`.
pub async fn member_remove(ns: &str, principal: &str) -> Result<Done, Failure> {
    let who = PrincipalName::parse(principal).map_err(usage("PRINCIPAL"))?;
    let path = format!("{}/{who}", members_path(ns)?);
    signed_in()?
        .exchange::<(), ()>(Method::DELETE, &path, None)
        .await?;
    Ok(Done {
        human: format!("{who} has no role in {ns} any more"),
        json: json!({ "namespace": ns, "principal": who.as_str(), "removed": true }),
    })
}

fn policy_path(ns: &str) -> Result<String, Failure> {
    let ns = Namespace::parse(ns).map_err(usage("NAMESPACE"))?;
    Ok(format!("{}/{ns}/policy", paths::NAMESPACES))
}

/// `signet policy show NS`.
pub async fn policy_show(ns: &str) -> Result<Done, Failure> {
    let policy: Value = signed_in()?.get(&policy_path(ns)?).await?;
    Ok(Done {
        human: serde_json::to_string_pretty(&policy).unwrap_or_default(),
        json: policy,
    })
}

/// `signet policy set NS FILE`: replaces the policy with the JSON object in
/// FILE (absent fields take their defaults); the registry checks every rule.
pub async fn policy_set(ns: &str, file: &std::path::Path) -> Result<Done, Failure> {
    let text = super::local::read_named_text(file)?;
    let policy: serde_json::Map<String, Value> = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let set: Value = signed_in()?
        .exchange(Method::PUT, &policy_path(ns)?, Some(&policy))
        .await?;
    Ok(Done {
        human: format!(
            "policy of {ns} set:\n{}",
            serde_json::to_string_pretty(&set).unwrap_or_default()
        ),
        json: set,
    })
}

/// `signet key list`.
pub async fn key_list(limit: usize) -> Result<Done, Failure> {
    let (items, more) = listed::<KeyView>(&signed_in()?, paths::KEYS, limit).await?;
    Ok(list_done(&items, more, key_line))
}

fn key_line(k: &KeyView) -> String {
    let state = match (&k.revocation_reason, k.revoked_at) {
        (Some(r), Some(at)) => format!("revoked ({r}) {at}"),
        _ => "active".to_owned(),
    };
    format!(
        "{}  {}  {}  {}  {}",
        k.keyid,
        k.name,
        k.algorithm,
        k.namespaces.join(","),
        state
    )
}

/// `signet key show KEYID`.
pub async fn key_show(keyid: &str) -> Result<Done, Failure> {
    let id = KeyId::parse(keyid).map_err(usage("KEYID"))?;
    let k: KeyView = signed_in()?.get(&paths::key(&id)).await?;
    Ok(Done {
        human: format!("{}\n{}", key_line(&k), k.public_key.trim_end()),
        json: to_json(&k),
    })
}

/// `signet key revoke KEYID --reason compromised|retired [--note TEXT]`.
pub async fn key_revoke(keyid: &str, reason: &str, note: Option<&str>) -> Result<Done, Failure> {
    let id = KeyId::parse(keyid).map_err(usage("KEYID"))?;
    let body = Revoke {
        reason: crate::kinds::RevocationReason::parse(reason).map_err(usage("--reason"))?,
        note: Reason::parse(note.unwrap_or_default()).map_err(usage("--note"))?,
    };
    let r: Revoked = signed_in()?
        .exchange(
            Method::POST,
            &format!("{}/revoke", paths::key(&id)),
            Some(&body),
        )
        .await?;
    let mut lines = vec![format!(
        "key {} ({}) revoked: {reason}",
        r.key.name, r.key.keyid
    )];
    for v in &r.versions_lost_verification {
        lines.push(format!(
            "  {}/{}@{} lost verification; aliases on it: {}",
            v.namespace,
            v.model,
            v.version,
            if v.aliases.is_empty() {
                "none".to_owned()
            } else {
                v.aliases.join(", ")
            }
        ));
    }
    Ok(Done {
        human: lines.join("\n"),
        json: to_json(&r),
    })
}

/// `signet quarantine place --kind K --value V --reason R [--namespace NS…]`.
pub async fn quarantine_place(
    kind: &str,
    value: &str,
    reason: &str,
    namespaces: &[String],
) -> Result<Done, Failure> {
    let body = CreateQuarantine {
        kind: crate::kinds::QuarantineKind::parse(kind).map_err(usage("--kind"))?,
        value: value.to_owned(),
        reason: RequiredReason::parse(reason).map_err(usage("--reason"))?,
        namespaces: match namespaces.is_empty() {
            true => None,
            false => Some(
                namespaces
                    .iter()
                    .map(|n| BindingScope::parse(n).map_err(usage("--namespace")))
                    .collect::<Result<_, _>>()?,
            ),
        },
    };
    let q: QuarantineCreated = signed_in()?
        .exchange(Method::POST, paths::QUARANTINES, Some(&body))
        .await?;
    let mut lines = vec![format!(
        "quarantine {} of {} {}: {} version(s) blocked",
        q.quarantine.id,
        q.quarantine.kind,
        q.quarantine.value,
        q.affected_versions.len()
    )];
    for a in &q.aliases {
        lines.push(format!(
            "  {}/{}@{} points at blocked version {}",
            a.namespace, a.model, a.alias, a.version
        ));
    }
    Ok(Done {
        human: lines.join("\n"),
        json: to_json(&q),
    })
}

/// `signet quarantine list`.
pub async fn quarantine_list(limit: usize) -> Result<Done, Failure> {
    let (items, more) = listed::<QuarantineView>(&signed_in()?, paths::QUARANTINES, limit).await?;
    Ok(list_done(&items, more, |q| {
        let state = match &q.lifted_at {
            Some(at) => format!("lifted {at}"),
            None => "in force".to_owned(),
        };
        format!(
            "{}  {} {}  {}  {}: {}",
            q.id,
            q.kind,
            q.value,
            q.namespaces.join(","),
            state,
            q.reason
        )
    }))
}

/// `signet quarantine lift ID [--reason TEXT]`.
pub async fn quarantine_lift(id: &str, reason: Option<&str>) -> Result<Done, Failure> {
    let id = uuid::Uuid::try_parse(id).map_err(usage("ID"))?;
    let reason = Reason::parse(reason.unwrap_or_default()).map_err(usage("--reason"))?;
    let path = format!(
        "{}/{id}?reason={}",
        paths::QUARANTINES,
        encode(reason.as_str())
    );
    signed_in()?
        .exchange::<(), ()>(Method::DELETE, &path, None)
        .await?;
    Ok(Done {
        human: format!("quarantine {id} lifted"),
        json: json!({ "id": id, "lifted": true }),
    })
}

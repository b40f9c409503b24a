//! The client's reads: who am I, namespaces, models, versions with their
//! standing at the gate, aliases, signatures; creating namespaces and models
//! (idempotently) and removing a draft's files. Each answers as the API does
//! (`--json`) and with lines for people.

use reqwest::Method;
use serde_json::json;

use super::commands::signed_in;
use super::listing::{encode, list_done, listed, usage};
use super::outcome::{Done, to_json};
use super::{At, Exit, Failure, Target, model_ref};
use crate::api::{
    CreateModel, CreateNamespace, GateView, ModelView, NamespaceView, Refusal, SignatureList,
    VersionSummary, VersionView, WhoAmI, paths,
};
use crate::names::{Description, FilePath, Namespace, Reason};

/// `signet whoami`.
pub async fn whoami() -> Result<Done, Failure> {
    let who: WhoAmI = signed_in()?.get(paths::WHOAMI).await?;
    let roles: Vec<String> = who
        .roles
        .iter()
        .map(|r| format!("{} in {}", r.role, r.namespace))
        .collect();
    Ok(Done {
        human: format!(
            "{} (token {}): {}",
            who.principal,
            who.token_id,
            if roles.is_empty() {
                "no roles".to_owned()
            } else {
                roles.join(", ")
            }
        ),
        json: to_json(&who),
    })
}

/// `signet namespace create NAME`: an existing namespace with the same
/// description is no failure ("already exists", exit 0), so scripts need no
/// `|| true`.
pub async fn namespace_create(name: &str, description: Option<&str>) -> Result<Done, Failure> {
    let ns = Namespace::parse(name).map_err(usage("NAME"))?;
    let description =
        Description::parse(description.unwrap_or_default()).map_err(usage("--description"))?;
    let body = CreateNamespace {
        name: ns.clone(),
        description: description.clone(),
    };
    let client = signed_in()?;
    let created = client
        .exchange::<_, NamespaceView>(Method::POST, paths::NAMESPACES, Some(&body))
        .await;
    match created {
        Ok(answer) => Ok(Done {
            human: format!("namespace {ns} created"),
            json: to_json(&answer),
        }),
        Err(f) if f.code.as_deref() == Some("conflict") => {
            let there: NamespaceView = client.get(&format!("{}/{ns}", paths::NAMESPACES)).await?;
            already(
                &format!("namespace {ns}"),
                &there.description,
                description.as_str(),
                &there,
            )
        }
        Err(f) => Err(f),
    }
}

/// What creating something that exists ends with: done when it is as asked,
/// a conflict naming the difference otherwise.
fn already<T: serde::Serialize>(
    what: &str,
    has: &str,
    asked: &str,
    there: &T,
) -> Result<Done, Failure> {
    if has == asked {
        let mut json = to_json(there);
        json["already_existed"] = true.into();
        return Ok(Done {
            human: format!("{what} already exists"),
            json,
        });
    }
    Err(Failure {
        code: Some("conflict".into()),
        ..Failure::new(
            Exit::Failure,
            format!("{what} already exists with the description {has:?}, not {asked:?}"),
        )
    })
}

/// `signet namespace list`.
pub async fn namespace_list(limit: usize) -> Result<Done, Failure> {
    let (items, more) = listed::<NamespaceView>(&signed_in()?, paths::NAMESPACES, limit).await?;
    Ok(list_done(&items, more, |n| {
        format!("{}  {}", n.name, n.description)
    }))
}

/// `signet namespace show NAME`.
pub async fn namespace_show(name: &str) -> Result<Done, Failure> {
    let ns = Namespace::parse(name).map_err(usage("NAME"))?;
    let n: NamespaceView = signed_in()?
        .get(&format!("{}/{ns}", paths::NAMESPACES))
        .await?;
    Ok(Done {
        human: format!(
            "{}: {} (created {} by {})",
            n.name, n.description, n.created_at, n.created_by
        ),
        json: to_json(&n),
    })
}

/// `signet model create NS/MODEL` (idempotent, as for namespaces).
pub async fn model_create(model: &str, description: Option<&str>) -> Result<Done, Failure> {
    let m = model_ref(model)?;
    let description =
        Description::parse(description.unwrap_or_default()).map_err(usage("--description"))?;
    let body = CreateModel {
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        description: description.clone(),
    };
    let client = signed_in()?;
    let created = client
        .exchange::<_, ModelView>(Method::POST, paths::MODELS, Some(&body))
        .await;
    match created {
        Ok(answer) => Ok(Done {
            human: format!("model {m} created"),
            json: to_json(&answer),
        }),
        Err(f) if f.code.as_deref() == Some("conflict") => {
            let there: ModelView = client.get(&paths::model(&m)).await?;
            already(
                &format!("model {m}"),
                &there.description,
                description.as_str(),
                &there,
            )
        }
        Err(f) => Err(f),
    }
}

/// `signet model list [--namespace NS]`.
pub async fn model_list(namespace: Option<&str>, limit: usize) -> Result<Done, Failure> {
    let path = match namespace {
        Some(ns) => {
            let ns = Namespace::parse(ns).map_err(usage("--namespace"))?;
            format!("{}?namespace={ns}", paths::MODELS)
        }
        None => paths::MODELS.to_owned(),
    };
    let (items, more) = listed::<ModelView>(&signed_in()?, &path, limit).await?;
    Ok(list_done(&items, more, model_line))
}

fn model_line(m: &ModelView) -> String {
    let aliases: Vec<String> = m.aliases.iter().map(|(a, v)| format!("{a}→{v}")).collect();
    format!(
        "{}/{}  latest {}  {}",
        m.namespace,
        m.name,
        m.latest_version.map_or("-".to_owned(), |v| v.to_string()),
        aliases.join(" ")
    )
}

/// `signet model show NS/MODEL`.
pub async fn model_show(model: &str) -> Result<Done, Failure> {
    let m = model_ref(model)?;
    let shown: ModelView = signed_in()?.get(&paths::model(&m)).await?;
    Ok(Done {
        human: format!("{}\n{}", model_line(&shown), shown.description),
        json: to_json(&shown),
    })
}

/// `signet version list NS/MODEL`: newest first.
pub async fn version_list(model: &str, limit: usize) -> Result<Done, Failure> {
    let m = model_ref(model)?;
    let (items, more) =
        listed::<VersionSummary>(&signed_in()?, &paths::versions(&m), limit).await?;
    Ok(list_done(&items, more, |v| {
        format!(
            "{:>6}  {:<6}  {}  {}",
            v.version, v.state, v.created_at, v.created_by
        )
    }))
}

/// `signet version show NS/MODEL@V`: the version, and its standing at the gate
/// for each alias and for deployers.
pub async fn version_show(target: &str) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let client = signed_in()?;
    let number = client.resolve(&target).await?;
    let m = target.model_ref();
    let v: VersionView = client.get(&paths::version(&m, number)).await?;
    let gate: GateView = client.get(&paths::gate(&m, number)).await?;
    let mut lines = vec![format!(
        "{m}@{number}: {}, {}{}, {} files",
        v.summary.state,
        if v.verified {
            "verified"
        } else {
            "not verified"
        },
        if v.quarantined { ", quarantined" } else { "" },
        v.files.len()
    )];
    for s in &v.signatures {
        lines.push(format!(
            "  signed by {} {}: {}",
            s.key_name, s.keyid, s.status
        ));
    }
    for a in &gate.aliases {
        lines.push(verdict(
            &format!("promotion to {}", a.alias),
            a.passes,
            &a.reasons,
        ));
    }
    lines.push(verdict(
        "deployers' pull",
        gate.deployers.may_pull,
        &gate.deployers.reasons,
    ));
    Ok(Done {
        human: lines.join("\n"),
        json: json!({ "version": v, "gate": gate }),
    })
}

/// `promotion to production: refused` and each reason on a line of its own.
fn verdict(what: &str, passes: bool, reasons: &[Refusal]) -> String {
    let mut out = format!("  {what}: {}", if passes { "passes" } else { "refused" });
    for r in reasons {
        out.push_str(&format!("\n    - {}: {}", r.reason, r.message));
    }
    out
}

/// `signet alias list NS/MODEL`.
pub async fn alias_list(model: &str) -> Result<Done, Failure> {
    let m = model_ref(model)?;
    let shown: ModelView = signed_in()?.get(&paths::model(&m)).await?;
    let lines: Vec<String> = shown
        .aliases
        .iter()
        .map(|(a, v)| format!("{m}@{a} → {v}"))
        .collect();
    Ok(Done {
        human: if lines.is_empty() {
            "none".into()
        } else {
            lines.join("\n")
        },
        json: json!({ "aliases": shown.aliases }),
    })
}

/// `signet alias show NS/MODEL@ALIAS`: the version it points at.
pub async fn alias_show(target: &str) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let At::Alias(alias) = &target.at else {
        return Err(Failure::usage("expected NAMESPACE/MODEL@ALIAS"));
    };
    let m = target.model_ref();
    let v: VersionView = signed_in()?.get(&paths::alias(&m, alias)).await?;
    Ok(Done {
        human: format!("{m}@{alias} → {}", v.summary.version),
        json: to_json(&v),
    })
}

/// `signet alias history NS/MODEL@ALIAS`: every move, newest first.
pub async fn alias_history(
    target: &str,
    limit: usize,
    registry_key: Option<&std::path::Path>,
) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let At::Alias(alias) = &target.at else {
        return Err(Failure::usage("expected NAMESPACE/MODEL@ALIAS"));
    };
    let pinned = registry_key.map(super::local::read_key).transpose()?;
    let model = target.model_ref();
    let path = format!("{}/history", paths::alias(&model, alias));
    let client = signed_in()?;
    let (items, more) = listed::<crate::api::AliasMoveView>(&client, &path, limit).await?;
    let mut failed = Vec::new();
    let checked: Vec<String> = items
        .iter()
        .map(|mv| match (&pinned, &mv.record, mv.version) {
            (None, _, _) => String::new(),
            (Some(_), None, None) => "  (removal: no record)".into(),
            (Some(_), None, Some(_)) => {
                failed.push(format!("the move at {} has no record", mv.at));
                "  record MISSING".into()
            }
            (Some(key), Some(r), _) => {
                match super::attested::check_record(r.get(), key, &model, alias, mv) {
                    Ok(()) => "  record verified".into(),
                    Err(why) => {
                        failed.push(format!("the record of the move at {}: {why}", mv.at));
                        format!("  record FAILS: {why}")
                    }
                }
            }
        })
        .collect();
    let done = list_done(&items, more, |mv| {
        let n = items.iter().position(|m| std::ptr::eq(m, mv)).unwrap_or(0);
        let to = mv.version.map_or("removed".to_owned(), |v| v.to_string());
        let from = mv
            .previous_version
            .map_or("-".to_owned(), |v| v.to_string());
        format!(
            "{}  {} → {}  by {}  {}{}",
            mv.at,
            from,
            to,
            mv.principal,
            mv.reason,
            checked.get(n).map_or("", String::as_str)
        )
    });
    if !failed.is_empty() {
        return Err(super::local::unverified(format!(
            "{}\n{}",
            done.human,
            failed.join("; ")
        )));
    }
    Ok(done)
}

/// `signet alias remove NS/MODEL@ALIAS [--reason TEXT]`.
pub async fn alias_remove(target: &str, reason: Option<&str>) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let At::Alias(alias) = &target.at else {
        return Err(Failure::usage("expected NAMESPACE/MODEL@ALIAS"));
    };
    let reason = Reason::parse(reason.unwrap_or_default()).map_err(usage("--reason"))?;
    let m = target.model_ref();
    let path = format!(
        "{}?reason={}",
        paths::alias(&m, alias),
        encode(reason.as_str())
    );
    signed_in()?
        .exchange::<(), ()>(Method::DELETE, &path, None)
        .await?;
    Ok(Done {
        human: format!("{m}@{alias} removed"),
        json: json!({ "model": m.to_string(), "alias": alias.as_str(), "removed": true }),
    })
}

/// `signet signature list NS/MODEL@V`: the stored signatures, as received.
pub async fn signature_list(target: &str) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let client = signed_in()?;
    let number = client.resolve(&target).await?;
    let list: SignatureList = client
        .get(&paths::signatures(&target.model_ref(), number))
        .await?;
    Ok(list_done(&list.items, false, |s| {
        format!("{}  received {}", s.keyid, s.received_at)
    }))
}

/// `signet file delete NS/MODEL@V PATH`: from a draft.
pub async fn file_delete(target: &str, path: &str) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let number = target.version()?;
    let path = FilePath::parse(path).map_err(usage("PATH"))?;
    let m = target.model_ref();
    signed_in()?
        .exchange::<(), ()>(Method::DELETE, &paths::file(&m, number, &path), None)
        .await?;
    Ok(Done {
        human: format!("{path} removed from {m}@{number}"),
        json: json!({ "model": m.to_string(), "version": number, "path": path.as_str() }),
    })
}

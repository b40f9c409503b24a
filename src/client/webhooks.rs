//! `signet webhook …`: a namespace's subscriptions to the registry's events,
//! their deliveries and redelivery, as its maintainers manage them.

use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use super::listing::usage;
use super::{Done, Failure};
use crate::api::{
    CreateWebhook, Delivery, DeliveryList, UpdateWebhook, Webhook, WebhookCreated, WebhookList,
    paths,
};
use crate::names::Namespace;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a namespace to events; prints the signing secret, once.
    Create {
        namespace: String,
        /// Where events are posted (https).
        #[arg(long)]
        url: String,
        /// An event type wanted, e.g. `dev.signet.alias.moved` (repeat).
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// A namespace's webhooks.
    List {
        namespace: String,
    },
    Show {
        namespace: String,
        id: String,
    },
    /// Change a webhook's target, events or description, or enable or
    /// disable it (enabling resumes deliveries where they stopped).
    Update {
        namespace: String,
        id: String,
        #[arg(long)]
        url: Option<String>,
        /// The event types wanted, replacing the old ones (repeat).
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Remove a webhook and its deliveries.
    Remove {
        namespace: String,
        id: String,
    },
    /// Send a test event now and show what the receiver answered.
    Test {
        namespace: String,
        id: String,
    },
    /// A webhook's deliveries, newest first, with every attempt.
    Deliveries {
        namespace: String,
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a delivery again (same message id), due now.
    Redeliver {
        namespace: String,
        id: String,
        delivery: String,
    },
}

/// Carries out a `signet webhook` command.
pub async fn run(command: WebhookCommand) -> Result<Done, Failure> {
    let client = super::commands::signed_in()?;
    let post = reqwest::Method::POST;
    match command {
        WebhookCommand::Create {
            namespace,
            url,
            events,
            description,
        } => {
            let body = CreateWebhook {
                url,
                event_types: events,
                description,
            };
            let made: WebhookCreated = client
                .exchange(post, &hooks(&namespace)?, Some(&body))
                .await?;
            Ok(Done {
                human: format!(
                    "{}\nsigning secret (shown once; give it to the receiver now): {}",
                    shown(&made.webhook),
                    made.secret
                ),
                json: serde_json::to_value(&made).unwrap_or_default(),
            })
        }
        WebhookCommand::List { namespace } => {
            let list: WebhookList = client.get(&hooks(&namespace)?).await?;
            let lines: Vec<String> = list.items.iter().map(shown).collect();
            Ok(Done {
                human: match lines.is_empty() {
                    true => format!("{namespace} has no webhooks"),
                    false => lines.join("\n"),
                },
                json: serde_json::to_value(&list).unwrap_or_default(),
            })
        }
        WebhookCommand::Show { namespace, id } => {
            let w: Webhook = client.get(&hook(&namespace, &id)?).await?;
            Ok(webhook_done(&w))
        }
        WebhookCommand::Update {
            namespace,
            id,
            url,
            events,
            description,
            enable,
            disable,
        } => {
            let body = UpdateWebhook {
                url,
                event_types: (!events.is_empty()).then_some(events),
                description,
                active: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let w: Webhook = client
                .exchange(reqwest::Method::PATCH, &hook(&namespace, &id)?, Some(&body))
                .await?;
            Ok(webhook_done(&w))
        }
        WebhookCommand::Remove { namespace, id } => {
            client
                .exchange::<(), ()>(reqwest::Method::DELETE, &hook(&namespace, &id)?, None)
                .await?;
            Ok(Done {
                human: format!("webhook {id} of {namespace} removed"),
                json: json!({"namespace": namespace, "id": id, "removed": true}),
            })
        }
        WebhookCommand::Test { namespace, id } => {
            let path = format!("{}/test", hook(&namespace, &id)?);
            let d: Delivery = client.exchange::<(), _>(post, &path, None).await?;
            Ok(Done {
                human: delivery_lines(&d),
                json: serde_json::to_value(&d).unwrap_or_default(),
            })
        }
        WebhookCommand::Deliveries {
            namespace,
            id,
            limit,
        } => {
            let path = format!("{}/deliveries?limit={limit}", hook(&namespace, &id)?);
            let list: DeliveryList = client.get(&path).await?;
            let lines: Vec<String> = list.items.iter().map(delivery_lines).collect();
            Ok(Done {
                human: match lines.is_empty() {
                    true => "no deliveries yet".to_owned(),
                    false => lines.join("\n"),
                },
                json: serde_json::to_value(&list).unwrap_or_default(),
            })
        }
        WebhookCommand::Redeliver {
            namespace,
            id,
            delivery,
        } => {
            let delivery = Uuid::try_parse(&delivery).map_err(usage("DELIVERY"))?;
            let path = format!("{}/deliveries/{delivery}/redeliver", hook(&namespace, &id)?);
            let d: Delivery = client.exchange::<(), _>(post, &path, None).await?;
            Ok(Done {
                human: format!("delivery {} queued again ({})", d.id, d.message_id),
                json: serde_json::to_value(&d).unwrap_or_default(),
            })
        }
    }
}

fn hooks(ns: &str) -> Result<String, Failure> {
    let ns = Namespace::parse(ns).map_err(usage("NAMESPACE"))?;
    Ok(format!("{}/{ns}/webhooks", paths::NAMESPACES))
}

fn hook(ns: &str, id: &str) -> Result<String, Failure> {
    let id = Uuid::try_parse(id).map_err(usage("ID"))?;
    Ok(format!("{}/{id}", hooks(ns)?))
}

fn shown(w: &Webhook) -> String {
    let state = match (&w.active, &w.disabled_reason) {
        (true, _) => "active".to_owned(),
        (false, Some(why)) => format!("disabled: {why}"),
        (false, None) => "disabled".to_owned(),
    };
    format!(
        "{}  {}  {}  [{}]",
        w.id,
        w.url,
        w.event_types.join(", "),
        state
    )
}

fn webhook_done(w: &Webhook) -> Done {
    Done {
        human: shown(w),
        json: serde_json::to_value(w).unwrap_or_default(),
    }
}

fn delivery_lines(d: &Delivery) -> String {
    let mut out = format!(
        "{}  {}  {}  {}",
        d.id,
        d.event_type,
        d.state.as_str(),
        d.log_seq
            .map(|s| format!("log event {s}"))
            .unwrap_or_default()
    );
    for a in &d.attempts {
        let answer = match (a.status, &a.error) {
            (Some(s), None) => format!("answered {s}"),
            (_, Some(e)) => e.clone(),
            (None, None) => "no answer".to_owned(),
        };
        out.push_str(&format!(
            "\n  attempt {} at {}: {answer} in {} ms",
            a.n,
            a.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            a.duration_ms
        ));
    }
    out
}

//! The events a webhook may subscribe to, and the CloudEvents 1.0 envelope
//! (JSON, structured mode) each is delivered in.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::chain::ChainedEvent;
use crate::error::{Error, Result};

/// What happened, as a CloudEvents `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    VersionSealed,
    SignatureAdded,
    AliasMoved,
    PromotionRefused,
    KeyRevoked,
    QuarantinePlaced,
    QuarantineLifted,
    AlertExtraction,
    /// `POST …/webhooks/{id}/test`: always delivered, never subscribed.
    Ping,
}

impl EventType {
    /// Every type a subscription may name.
    pub const SUBSCRIBABLE: [Self; 8] = [
        Self::VersionSealed,
        Self::SignatureAdded,
        Self::AliasMoved,
        Self::PromotionRefused,
        Self::KeyRevoked,
        Self::QuarantinePlaced,
        Self::QuarantineLifted,
        Self::AlertExtraction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VersionSealed => "dev.signet.version.sealed",
            Self::SignatureAdded => "dev.signet.signature.added",
            Self::AliasMoved => "dev.signet.alias.moved",
            Self::PromotionRefused => "dev.signet.promotion.refused",
            Self::KeyRevoked => "dev.signet.key.revoked",
            Self::QuarantinePlaced => "dev.signet.quarantine.placed",
            Self::QuarantineLifted => "dev.signet.quarantine.lifted",
            Self::AlertExtraction => "dev.signet.alert.extraction",
            Self::Ping => "dev.signet.webhook.ping",
        }
    }

    /// A subscribable type by its name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "event type {s:?}: one of {}",
                    Self::SUBSCRIBABLE.map(Self::as_str).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CloudEvent as delivered: the required attributes, `subject` (the
/// version, `ns/model@version`, where there is one), `time` and the event's
/// data.
#[derive(Debug, Clone, Serialize)]
pub struct CloudEvent {
    pub specversion: &'static str,
    pub id: String,
    /// The registry that emitted it (its public URL).
    pub source: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub time: String,
    pub datacontenttype: &'static str,
    pub data: serde_json::Value,
}

impl CloudEvent {
    pub fn new(
        id: String,
        source: String,
        kind: EventType,
        subject: Option<String>,
        time: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            specversion: "1.0",
            id,
            source,
            kind: kind.as_str(),
            subject,
            time: time.to_rfc3339_opts(SecondsFormat::Millis, true),
            datacontenttype: "application/json",
            data,
        }
    }

    /// The body delivered.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a CloudEvent serializes")
    }
}

/// What the access log's event means to subscribers: its type, the
/// namespaces whose subscriptions hear of it (`*`: every namespace), its
/// subject and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub kind: EventType,
    pub namespaces: Vec<String>,
    pub subject: Option<String>,
    pub data: serde_json::Value,
}

impl Emitted {
    /// Whether a subscription of `namespace` hears of it.
    pub fn reaches(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n == namespace || n == "*")
    }

    /// Its data as a subscription of `namespace` gets it: of the namespaces
    /// it names (a key's scope, a quarantine's), only that one (or `*`), so
    /// no namespace learns of another.
    pub fn data_for(&self, namespace: &str) -> serde_json::Value {
        let mut data = self.data.clone();
        if let Some(named) = data.get_mut("namespaces") {
            let global = self.namespaces.iter().any(|n| n == "*");
            *named = match global {
                true => serde_json::json!(["*"]),
                false => serde_json::json!([namespace]),
            };
        }
        data
    }
}

/// The webhook event an access log event is, if any: the changes a
/// deployment system or a security team acts on. Its data is what the
/// change recorded in the event, with who made it and where it sits in the
/// log (`log_seq`, for an inclusion proof).
pub fn emitted(e: &ChainedEvent) -> Option<Emitted> {
    use crate::kinds::Outcome;
    let ev = &e.event;
    let detail: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&ev.detail).unwrap_or_default();
    let route = ev.action.as_str();
    let kind = match (route, ev.outcome) {
        ("POST /v1/models/{ns}/{model}/versions/{v}/seal", Outcome::Allowed) => {
            EventType::VersionSealed
        }
        ("POST /v1/models/{ns}/{model}/versions/{v}/signatures", Outcome::Allowed) => {
            EventType::SignatureAdded
        }
        ("PUT /v1/models/{ns}/{model}/aliases/{alias}", Outcome::Allowed)
        | ("DELETE /v1/models/{ns}/{model}/aliases/{alias}", Outcome::Allowed) => {
            EventType::AliasMoved
        }
        ("PUT /v1/models/{ns}/{model}/aliases/{alias}", Outcome::Refused) => {
            EventType::PromotionRefused
        }
        ("POST /v1/keys/{keyid}/revoke", Outcome::Allowed) => EventType::KeyRevoked,
        ("POST /v1/quarantines", Outcome::Allowed) => EventType::QuarantinePlaced,
        ("DELETE /v1/quarantines/{id}", Outcome::Allowed) => EventType::QuarantineLifted,
        (crate::audit::ALERT_ACTION, _) => EventType::AlertExtraction,
        _ => return None,
    };
    let mut data = serde_json::Map::new();
    if let Some(model) = ev.model.as_deref().and_then(|m| m.split_once('/')) {
        data.insert("namespace".into(), model.0.into());
        data.insert("model".into(), model.1.into());
    }
    for (k, v) in &detail {
        if !matches!(k.as_str(), "refused" | "namespaces") {
            data.insert(k.clone(), v.clone());
        }
    }
    if kind == EventType::AlertExtraction
        && let Some(ns) = &ev.namespace
    {
        // One alert per namespace involved: this one's.
        data.insert("namespace".into(), ns.clone().into());
    }
    if kind == EventType::AliasMoved && !data.contains_key("version") {
        // A removal: the alias points nowhere now.
        data.insert("version".into(), serde_json::Value::Null);
    }
    if kind == EventType::PromotionRefused {
        let reasons = detail.get("refused").cloned().unwrap_or_default();
        data.insert("reasons".into(), reasons);
    }
    let namespaces: Vec<String> = match detail.get("namespaces").and_then(|n| n.as_array()) {
        Some(list) => list
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        None => ev.namespace.iter().cloned().collect(),
    };
    if matches!(
        kind,
        EventType::KeyRevoked | EventType::QuarantinePlaced | EventType::QuarantineLifted
    ) {
        data.insert("namespaces".into(), namespaces.clone().into());
    }
    data.insert("principal".into(), ev.principal.clone().into());
    data.insert("request_id".into(), ev.request_id.clone().into());
    data.insert("log_seq".into(), ev.seq.into());
    let version = data.get("version").and_then(|v| v.as_i64());
    let subject = match (&ev.model, version, kind) {
        (Some(m), Some(v), _) => Some(format!("{m}@{v}")),
        (Some(m), None, _) => Some(m.clone()),
        (None, _, EventType::AlertExtraction) => {
            ev.principal.as_ref().map(|p| format!("principals/{p}"))
        }
        (None, _, EventType::KeyRevoked) => data
            .get("keyid")
            .and_then(|k| k.as_str())
            .map(|k| format!("keys/{k}")),
        (None, _, _) => data
            .get("quarantine")
            .and_then(|q| q.as_str())
            .map(|q| format!("quarantines/{q}")),
    };
    Some(Emitted {
        kind,
        namespaces,
        subject,
        data: serde_json::Value::Object(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_and_an_unknown_one_is_named() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(t.as_str()).unwrap(), t);
        }
        let e = EventType::parse("dev.signet.webhook.ping").unwrap_err();
        assert!(e.to_string().contains("dev.signet.alias.moved"), "{e}");
    }

    #[test]
    fn the_envelope_has_cloudevents_required_attributes() {
        let e = CloudEvent::new(
            "evt_1".into(),
            "https://signet.example".into(),
            EventType::AliasMoved,
            Some("fraud/scorer@3".into()),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            serde_json::json!({"alias": "production", "from": 2, "to": 3}),
        );
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "dev.signet.alias.moved");
        assert_eq!(v["subject"], "fraud/scorer@3");
        assert_eq!(v["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["data"]["to"], 3);
        for k in ["id", "source", "datacontenttype"] {
            assert!(v[k].is_string(), "{k}");
        }
    }
}

//! An access event as OCSF 1.1 API Activity (class 6003), the shape SIEMs
//! (Splunk, Elastic, LogScale, Security Lake) map without a custom parser:
//! the actor, the API operation, the resource, the status, the source
//! address and the request id, with the event's place in the hash chain
//! (`metadata.sequence`, `unmapped.chain`) so a SIEM copy can be checked
//! against `audit verify`.

use chrono::DateTime;
use serde_json::{Value, json};

use crate::chain::ChainedEvent;
use crate::kinds::Outcome;

/// The OCSF version the events follow.
pub const OCSF_VERSION: &str = "1.1.0";
const CLASS_UID: u32 = 6003;
const CATEGORY_UID: u32 = 6;

/// OCSF's activity of an HTTP method: Create, Read, Update, Delete, Other.
fn activity(method: &str) -> (u32, &'static str) {
    match method {
        "POST" => (1, "Create"),
        "GET" | "HEAD" => (2, "Read"),
        "PUT" | "PATCH" => (3, "Update"),
        "DELETE" => (4, "Delete"),
        _ => (99, "Other"),
    }
}

/// The event as an OCSF API Activity object; `product` is the registry's
/// name.
pub fn api_activity(e: &ChainedEvent, product: &str) -> Value {
    let ev = &e.event;
    let (method, route) = ev.action.split_once(' ').unwrap_or(("", &ev.action));
    let (activity_id, activity_name) = activity(method);
    let time = DateTime::parse_from_rfc3339(&ev.at)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    let (status_id, status, severity_id, severity) = match ev.outcome {
        Outcome::Allowed => (1, "Success", 1, "Informational"),
        Outcome::Denied => (2, "Failure", 3, "Medium"),
        Outcome::Refused => (2, "Failure", 2, "Low"),
        Outcome::Error => (2, "Failure", 2, "Low"),
    };
    let detail: Value = serde_json::from_str(&ev.detail).unwrap_or(Value::Null);
    let mut resources = Vec::new();
    if let Some(ns) = &ev.namespace {
        resources.push(json!({"type": "namespace", "name": ns}));
    }
    if let Some(m) = &ev.model {
        resources.push(json!({"type": "model", "name": m}));
    }
    resources.push(json!({"type": "path", "name": ev.resource}));
    json!({
        "class_uid": CLASS_UID,
        "class_name": "API Activity",
        "category_uid": CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "time": time,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "status_code": ev.status.to_string(),
        "status_detail": ev.outcome.as_str(),
        "actor": {
            "user": {"name": ev.principal, "type": "User"},
            "session": {"uid": ev.token_id},
        },
        "api": {
            "operation": ev.action,
            "request": {"uid": ev.request_id},
            "response": {"code": ev.status},
            "service": {"name": product},
        },
        "http_request": {"http_method": method, "url": {"path": ev.resource}},
        "src_endpoint": {"ip": ev.client_addr},
        "resources": resources,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Signet", "vendor_name": "Signet", "feature": {"name": route}},
            "uid": ev.seq.to_string(),
            "sequence": ev.seq,
            "correlation_uid": ev.request_id,
            "logged_time": time,
        },
        "unmapped": {
            "chain": {"seq": ev.seq, "prev_hash": e.prev_hash, "hash": e.hash},
            "detail": detail,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::AuditEvent;

    #[test]
    fn an_event_maps_to_api_activity() {
        let e = ChainedEvent {
            event: AuditEvent {
                seq: 42,
                at: "2026-12-07T10:00:00.000001Z".into(),
                request_id: "req-1".into(),
                principal: Some("deployer-ci".into()),
                token_id: Some("tok".into()),
                action: "GET /v1/models/{ns}/{model}/versions/{v}/files/{path}".into(),
                namespace: Some("fraud".into()),
                model: Some("fraud/scorer".into()),
                resource: "/v1/models/fraud/scorer/versions/3/files/m.bin".into(),
                outcome: Outcome::Denied,
                status: 403,
                client_addr: Some("10.0.0.7".into()),
                detail: r#"{"bytes":12}"#.into(),
            },
            prev_hash: "aa".into(),
            hash: "bb".into(),
        };
        let v = api_activity(&e, "signet");
        assert_eq!(v["class_uid"], 6003);
        assert_eq!(v["type_uid"], 600302);
        assert_eq!(v["activity_name"], "Read");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["status_code"], "403");
        assert_eq!(v["actor"]["user"]["name"], "deployer-ci");
        assert_eq!(v["src_endpoint"]["ip"], "10.0.0.7");
        assert_eq!(v["metadata"]["sequence"], 42);
        assert_eq!(v["unmapped"]["chain"]["hash"], "bb");
        assert_eq!(v["unmapped"]["detail"]["bytes"], 12);
        assert_eq!(v["time"], 1_796_637_600_000i64);
        assert_eq!(v["resources"][1]["name"], "fraud/scorer");
    }
}

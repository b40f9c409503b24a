//! Store conformance: each capability trait, on its own, behaves the same on
//! both backends. These cases call the store directly, as the domain services
//! do; everything else in this suite reaches it through the HTTP API.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::Utc;
use signet::error::Error;
use signet::kinds::{BindingScope, Outcome, QuarantineTarget, Role};
use signet::names::{ModelRef, Namespace, PrincipalName, Sha256, VersionNumber};
use signet::store::{AuditEvent, NamespaceRecord, Pending, QuarantineRecord, timestamp};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp};

crate::on_both_backends!(
    a_write_commits_its_requests_event_once_and_a_refused_one_none,
    role_bindings_are_replaced_per_scope_and_paged_by_principal,
    quarantine_targets_come_back_as_they_went_in,
    a_stored_value_that_breaks_its_rule_is_refused_on_the_way_back,
);

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        seq: 0,
        at: timestamp(Utc::now()),
        request_id: "r-1".into(),
        principal: Some("admin".into()),
        token_id: None,
        action: action.into(),
        namespace: None,
        model: None,
        resource: "/v1/namespaces".into(),
        outcome: Outcome::Allowed,
        status: 201,
        client_addr: None,
        detail: "{}".into(),
    }
}

fn namespace(name: &str) -> NamespaceRecord {
    NamespaceRecord {
        name: Namespace::parse(name).unwrap(),
        description: String::new(),
        created_at: Utc::now(),
        created_by: PrincipalName::parse("admin").unwrap(),
    }
}

fn principal(name: &str) -> PrincipalName {
    PrincipalName::parse(name).unwrap()
}

async fn a_write_commits_its_requests_event_once_and_a_refused_one_none(b: Backend) {
    let app = TestApp::spawn(b).await;
    let store = &app.store;
    let before = store.audit_head().await.unwrap().seq;

    let committed = Arc::new(AtomicBool::new(false));
    let pending = Pending::new(event("POST /v1/namespaces"), committed.clone());
    store
        .create_namespace(&namespace("one"), &pending)
        .await
        .unwrap();
    assert!(committed.load(std::sync::atomic::Ordering::Acquire));
    // A second write of the same request appends nothing more.
    store
        .create_namespace(&namespace("two"), &pending)
        .await
        .unwrap();
    // The event waits in the inbox until an appender chains it.
    assert_eq!(store.audit_head().await.unwrap().seq, before);
    store.chain_waiting().await.unwrap();
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, before + 1);
    let last = store.audit_after(head.seq - 1, 10).await.unwrap();
    assert_eq!(last[0].event.action, "POST /v1/namespaces");
    assert_eq!(last[0].event.status, 201);

    // A refused write leaves neither the change nor its event.
    let refused = Arc::new(AtomicBool::new(false));
    let again = Pending::new(event("POST /v1/namespaces"), refused.clone());
    let dup = store.create_namespace(&namespace("one"), &again).await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
    assert!(!refused.load(std::sync::atomic::Ordering::Acquire));
    store.chain_waiting().await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().seq, before + 1);

    // Writes no request makes record nothing.
    store
        .create_namespace(&namespace("three"), &Pending::system())
        .await
        .unwrap();
    store.chain_waiting().await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().seq, before + 1);
}

async fn role_bindings_are_replaced_per_scope_and_paged_by_principal(b: Backend) {
    let app = TestApp::spawn(b).await;
    let store = &app.store;
    let fraud = BindingScope::parse("fraud").unwrap();
    store
        .create_namespace(&namespace("fraud"), &Pending::system())
        .await
        .unwrap();
    for (who, roles) in [
        ("ann", vec![Role::Reader, Role::Publisher]),
        ("bob", vec![Role::Auditor]),
        ("cy", vec![Role::Deployer]),
    ] {
        store
            .set_roles(
                &principal(who),
                &fraud,
                &roles,
                Utc::now(),
                &Pending::system(),
            )
            .await
            .unwrap();
    }
    // Replacing, not adding.
    store
        .set_roles(
            &principal("ann"),
            &fraud,
            &[Role::Maintainer],
            Utc::now(),
            &Pending::system(),
        )
        .await
        .unwrap();
    store
        .set_roles(
            &principal("ann"),
            &BindingScope::Global,
            &[Role::Auditor],
            Utc::now(),
            &Pending::system(),
        )
        .await
        .unwrap();

    let first = store.members(&fraud, "", 2).await.unwrap();
    let who: Vec<(&str, Role)> = first
        .iter()
        .map(|b| (b.principal.as_str(), b.role))
        .collect();
    assert_eq!(who, [("ann", Role::Maintainer), ("bob", Role::Auditor)]);
    let rest = store.members(&fraud, "bob", 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].principal.as_str(), "cy");
    let ann = store.roles_of(&principal("ann")).await.unwrap();
    assert_eq!(ann.len(), 2, "one binding per scope");
    assert!(
        ann.iter()
            .any(|b| b.scope == BindingScope::Global && b.role == Role::Auditor)
    );

    store
        .remove_member(&fraud, &principal("cy"), &Pending::system())
        .await
        .unwrap();
    let gone = store
        .remove_member(&fraud, &principal("cy"), &Pending::system())
        .await;
    assert!(matches!(gone, Err(Error::NotFound)), "{gone:?}");
}

async fn quarantine_targets_come_back_as_they_went_in(b: Backend) {
    let app = TestApp::spawn(b).await;
    let store = &app.store;
    let targets = [
        QuarantineTarget::Dataset(Sha256::parse(&"ab".repeat(32)).unwrap()),
        QuarantineTarget::Commit(signet::names::CommitId::parse(&"cd".repeat(20)).unwrap()),
        QuarantineTarget::Version(
            ModelRef::parse("fraud/scorer").unwrap(),
            VersionNumber::new(3).unwrap(),
        ),
    ];
    let mut ids = Vec::new();
    for t in &targets {
        let q = QuarantineRecord {
            id: Uuid::now_v7(),
            target: t.clone(),
            scope: vec![BindingScope::parse("fraud").unwrap(), BindingScope::Global],
            reason: "poisoned".into(),
            created_at: Utc::now(),
            created_by: principal("admin"),
            lifted_at: None,
            lifted_by: None,
            lift_reason: None,
        };
        store
            .create_quarantine(&q, None, &Pending::system())
            .await
            .unwrap();
        ids.push(q.id);
    }
    let listed = store.list_quarantines(Uuid::nil(), 10).await.unwrap();
    assert!(
        listed
            .iter()
            .all(|q| q.scope == [BindingScope::Global, BindingScope::parse("fraud").unwrap()])
    );
    let back: Vec<QuarantineTarget> = listed.into_iter().map(|q| q.target).collect();
    assert_eq!(back, targets);

    store
        .lift_quarantine(
            ids[0],
            &principal("admin"),
            "cleaned",
            Utc::now(),
            &Pending::system(),
        )
        .await
        .unwrap();
    let twice = store
        .lift_quarantine(
            ids[0],
            &principal("admin"),
            "again",
            Utc::now(),
            &Pending::system(),
        )
        .await;
    assert!(matches!(twice, Err(Error::Conflict(_))), "{twice:?}");
    let lifted = store.get_quarantine(ids[0]).await.unwrap();
    assert_eq!(lifted.lifted_by, Some(principal("admin")));
}

async fn a_stored_value_that_breaks_its_rule_is_refused_on_the_way_back(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ns, model, v) = app.given_draft().await;
    let model = ModelRef::parse(&format!("{ns}/{model}")).unwrap();
    let number = VersionNumber::new(v).unwrap();
    assert!(app.store.get_version(&model, number).await.is_ok());
    // The schema does not constrain a principal's spelling; the typed record does.
    app.sql("UPDATE versions SET created_by = 'not a principal!'")
        .await;
    let read = app.store.get_version(&model, number).await;
    assert!(
        matches!(read, Err(Error::Internal(_))),
        "a malformed stored name came back as {read:?}"
    );
    let r = app.get_version(&ns, model.name.as_str(), v).await;
    assert_eq!(r.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("not a principal"),
        "internal detail leaked: {body}"
    );
}

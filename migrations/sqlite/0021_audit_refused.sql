-- The access log's outcomes gain `refused` (see the PostgreSQL twin). SQLite
-- cannot change a column's check in place: each table is copied into one with
-- the wider check, row for row, and its indexes are built again.
CREATE TABLE audit_events_0021 (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    principal   TEXT,
    token_id    TEXT,
    action      TEXT NOT NULL,
    namespace   TEXT,
    model       TEXT,
    resource    TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error', 'refused')),
    status      INTEGER NOT NULL,
    client_addr TEXT,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
INSERT INTO audit_events_0021 (seq, at, request_id, principal, token_id, action, namespace,
    model, resource, outcome, status, client_addr, detail, prev_hash, hash)
SELECT seq, at, request_id, principal, token_id, action, namespace, model, resource, outcome,
    status, client_addr, detail, prev_hash, hash FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_0021 RENAME TO audit_events;
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_namespace ON audit_events (namespace, seq);
CREATE INDEX audit_events_namespace_action ON audit_events (namespace, action, seq);
CREATE INDEX audit_events_model ON audit_events (model, seq);
CREATE INDEX audit_events_outcome ON audit_events (outcome, seq);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_model_outcome ON audit_events (model, outcome, seq);
CREATE INDEX audit_events_principal_seq_at ON audit_events (principal, seq, at);

CREATE TABLE audit_inbox_0021 (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    principal   TEXT,
    token_id    TEXT,
    action      TEXT NOT NULL,
    namespace   TEXT,
    model       TEXT,
    resource    TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error', 'refused')),
    status      INTEGER NOT NULL,
    client_addr TEXT,
    detail      TEXT NOT NULL
);
INSERT INTO audit_inbox_0021 (id, at, request_id, principal, token_id, action, namespace,
    model, resource, outcome, status, client_addr, detail)
SELECT id, at, request_id, principal, token_id, action, namespace, model, resource, outcome,
    status, client_addr, detail FROM audit_inbox;
DROP TABLE audit_inbox;
ALTER TABLE audit_inbox_0021 RENAME TO audit_inbox;

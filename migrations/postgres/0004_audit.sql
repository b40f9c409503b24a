-- The access log: one event per /v1 request, hash-chained.

CREATE TABLE audit_events (
    -- Gap-free, assigned under the lock on audit_head.
    seq         BIGINT PRIMARY KEY,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    principal   TEXT,
    token_id    TEXT,
    action      TEXT NOT NULL,
    namespace   TEXT,
    model       TEXT,
    resource    TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
    status      INTEGER NOT NULL,
    client_addr TEXT,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    -- SHA-256(prev_hash || canonical bytes of the event), hex.
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_principal ON audit_events (principal, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_namespace ON audit_events (namespace, seq);
-- "What was downloaded in this namespace": the auditor's most common question.
CREATE INDEX audit_events_namespace_action ON audit_events (namespace, action, seq);
CREATE INDEX audit_events_model ON audit_events (model, seq);
CREATE INDEX audit_events_outcome ON audit_events (outcome, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- The chain's tip, and its anchor: the last event dropped by retention (seq 0
-- and 64 zeros before any was dropped).
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    anchor_seq  BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, anchor_seq, anchor_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Mirrors migrations/postgres/0026_webhooks.sql.
-- Webhooks: a namespace's subscriptions to the registry's events, delivered
-- as signed CloudEvents. The access log is the outbox: every change writes its
-- event in its own transaction, and each subscription keeps the position in
-- the log it has considered, advanced in the transaction that queues the
-- matching events as deliveries. One replica delivers a subscription at a
-- time, the one holding its lease.
--
-- The signing secret is kept sealed (AES-256-GCM under the operator's webhook
-- key, bound to the subscription's id), never in the clear.
CREATE TABLE webhooks (
    id              BLOB PRIMARY KEY,
    namespace       TEXT NOT NULL,
    url             TEXT NOT NULL,
    event_types     TEXT NOT NULL,
    description     TEXT NOT NULL,
    sealed_secret   BLOB NOT NULL,
    active          INTEGER NOT NULL CHECK (active IN (0, 1)),
    disabled_reason TEXT,
    position        INTEGER NOT NULL,
    owner           TEXT,
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX webhooks_namespace ON webhooks (namespace);

-- One message to one subscription: its body is fixed when it is queued (the
-- same bytes, and `webhook-id`, at every attempt). Delivered in the order of
-- their ids (time-ordered), one pending at a time per subscription.
CREATE TABLE webhook_deliveries (
    id              BLOB PRIMARY KEY,
    webhook_id      BLOB NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq             INTEGER,
    event_type      TEXT NOT NULL,
    body            BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    retry_since     TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, state, id);

-- Every attempt at a delivery: what the receiver answered (its status and a
-- short escaped excerpt, never more) and how long it took.
CREATE TABLE webhook_attempts (
    delivery_id BLOB NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    at          TEXT NOT NULL,
    status      INTEGER,
    duration_ms INTEGER NOT NULL,
    error       TEXT,
    excerpt     TEXT NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

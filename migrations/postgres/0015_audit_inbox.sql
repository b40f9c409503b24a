-- Events of committed writes not yet in the chain. A write inserts its event
-- here in its own transaction (no lock shared with other writers); whoever next
-- takes the chain's head lock (a batch of read events, an audit query) moves
-- them into audit_events in id order, chained, and deletes them here.

CREATE TABLE audit_inbox (
    id          BIGSERIAL PRIMARY KEY,
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
    detail      TEXT NOT NULL
);

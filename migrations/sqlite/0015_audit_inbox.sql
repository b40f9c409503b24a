-- Events of committed writes not yet in the chain. Mirrors migrations/postgres.

CREATE TABLE audit_inbox (
    id          INTEGER PRIMARY KEY,
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

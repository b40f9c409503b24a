-- Mirrors migrations/postgres/0025_audit_streams.sql.
-- Where the access log's stream to a SIEM (SIGNET_AUDIT_STREAM) has got to,
-- per destination: the last event it delivered. One replica streams at a
-- time, the one holding the lease; another takes over when it lapses.
CREATE TABLE audit_streams (
    destination TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    owner       TEXT,
    lease_until TEXT,
    updated_at  TEXT NOT NULL
);

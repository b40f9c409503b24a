-- Where the access log's stream to a SIEM (SIGNET_AUDIT_STREAM) has got to,
-- per destination: the last event it delivered. One replica streams at a
-- time, the one holding the lease; another takes over when it lapses.
CREATE TABLE audit_streams (
    destination TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    owner       TEXT,
    lease_until TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Mirrors migrations/postgres/0009_quarantine_scopes.sql.
-- Where a quarantine applies: the namespaces whose versions it blocks, or '*'
-- for all of them. Quarantines imposed before scopes existed applied
-- everywhere, and keep doing so.

CREATE TABLE quarantine_scopes (
    quarantine_id BLOB NOT NULL REFERENCES quarantines (id),
    namespace     TEXT NOT NULL,
    PRIMARY KEY (quarantine_id, namespace)
);
CREATE INDEX quarantine_scopes_namespace ON quarantine_scopes (namespace);
INSERT INTO quarantine_scopes (quarantine_id, namespace) SELECT id, '*' FROM quarantines;

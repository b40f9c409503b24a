-- Mirrors migrations/postgres/0008_trust_epoch.sql.
-- A counter every change that removes trust bumps (a key revoked, a quarantine
-- imposed, a policy replaced). A promotion reads it before judging a version and
-- moves the alias only if it is unchanged, under the counter row's lock: the
-- judgement and the move see the same keys, revocations and quarantines.

CREATE TABLE trust_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO trust_epoch (id, n) VALUES (1, 0);

-- A counter every change of access bumps in its own transaction (a token
-- revoked, with those minted from it; a principal's roles in a scope replaced or
-- removed). A replica that kept a credential from an earlier read serves with it
-- only while a statement of the request, in its own snapshot, finds the counter
-- where it was when the credential was read.

CREATE TABLE access_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO access_epoch (id, n) VALUES (1, 0);

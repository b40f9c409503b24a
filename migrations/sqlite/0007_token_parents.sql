-- Mirrors migrations/postgres/0007_token_parents.sql.
-- A token minted with a token is bound to it: it expires no later than its
-- parent and is revoked with it. `revoked_with` names the ancestor whose
-- revocation revoked it (NULL when it was revoked itself).

ALTER TABLE tokens ADD COLUMN parent_id BLOB REFERENCES tokens (id);
ALTER TABLE tokens ADD COLUMN revoked_with BLOB;
CREATE INDEX tokens_parent ON tokens (parent_id);

-- A token minted with a token is bound to it: it expires no later than its
-- parent and is revoked with it. `revoked_with` names the ancestor whose
-- revocation revoked it (NULL when it was revoked itself).

ALTER TABLE tokens ADD COLUMN parent_id UUID REFERENCES tokens (id);
ALTER TABLE tokens ADD COLUMN revoked_with UUID;
CREATE INDEX tokens_parent ON tokens (parent_id);

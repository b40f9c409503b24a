-- Mirrors migrations/postgres/0022_registry_tokens.sql.
-- Registry tokens: what the OCI face's token endpoint (`/v2/token`) hands a
-- registry client in exchange for an API token. Short-lived, scoped to the
-- repositories (`namespace/model`) asked for, pull only, and accepted only by
-- the OCI face. Each is a child of the API token it was minted with: it stands
-- only while that token is usable (not revoked, not expired), checked on every
-- request. A table of its own, so a release that does not know it can never
-- take one for an API token. Like every token, only its secret's hash is kept.

CREATE TABLE registry_tokens (
    id           BLOB PRIMARY KEY,
    secret_hash  BLOB NOT NULL UNIQUE,
    parent_id    BLOB NOT NULL REFERENCES tokens(id),
    repositories TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX registry_tokens_expires_at ON registry_tokens (expires_at);

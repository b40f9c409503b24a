-- Mirrors migrations/postgres/0023_trusted_publishing.sql.
-- Trusted publishing: a namespace's maintainers register the CI identities
-- (an OpenID Connect issuer and exact claims) that may publish there; a CI job
-- exchanges its identity token for a short-lived publisher token.
--
-- A publisher is replaced, not edited: every change gives it a new id, and the
-- tokens minted under the old one (which join on the id) stop at once.
CREATE TABLE trusted_publishers (
    id          BLOB PRIMARY KEY,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    claims      TEXT NOT NULL,
    roles       TEXT NOT NULL,
    bind_commit INTEGER NOT NULL CHECK (bind_commit IN (0, 1)),
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    UNIQUE (namespace, name)
);
CREATE INDEX trusted_publishers_issuer ON trusted_publishers (issuer);

-- Publisher tokens: what `POST /v1/oidc/token` mints. A table of their own, so
-- a release that does not know them never takes one for an API token; only
-- the secret's hash is kept, with the identity the token was minted for.
CREATE TABLE publisher_tokens (
    id           BLOB PRIMARY KEY,
    secret_hash  BLOB NOT NULL UNIQUE,
    publisher_id BLOB NOT NULL,
    identity     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX publisher_tokens_expires_at ON publisher_tokens (expires_at);

-- Identity tokens already exchanged, by issuer and `jti`, until they expire:
-- one exchange per identity token, across replicas.
CREATE TABLE oidc_exchanges (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_exchanges_expires_at ON oidc_exchanges (expires_at);

-- The CI provenance of a version created with a publisher token (issuer,
-- repository, workflow, commit, run); null for every other version.
ALTER TABLE versions ADD COLUMN provenance TEXT;

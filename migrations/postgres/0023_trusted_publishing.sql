-- Trusted publishing: a namespace's maintainers register the CI identities
-- (an OpenID Connect issuer and exact claims) that may publish there; a CI job
-- exchanges its identity token for a short-lived publisher token.
--
-- A publisher is replaced, not edited: every change gives it a new id, and the
-- tokens minted under the old one (which join on the id) stop at once.
CREATE TABLE trusted_publishers (
    id          UUID PRIMARY KEY,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    claims      JSONB NOT NULL,
    roles       JSONB NOT NULL,
    bind_commit BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    UNIQUE (namespace, name)
);
CREATE INDEX trusted_publishers_issuer ON trusted_publishers (issuer);

-- Publisher tokens: what `POST /v1/oidc/token` mints. A table of their own, so
-- a release that does not know them never takes one for an API token; only
-- the secret's hash is kept, with the identity the token was minted for.
CREATE TABLE publisher_tokens (
    id           UUID PRIMARY KEY,
    secret_hash  BYTEA NOT NULL UNIQUE,
    publisher_id UUID NOT NULL,
    identity     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX publisher_tokens_expires_at ON publisher_tokens (expires_at);

-- Identity tokens already exchanged, by issuer and `jti`, until they expire:
-- one exchange per identity token, across replicas.
CREATE TABLE oidc_exchanges (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_exchanges_expires_at ON oidc_exchanges (expires_at);

-- The CI provenance of a version created with a publisher token (issuer,
-- repository, workflow, commit, run); null for every other version.
ALTER TABLE versions ADD COLUMN provenance JSONB;

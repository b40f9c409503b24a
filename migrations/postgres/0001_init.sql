-- Signet metadata schema (PostgreSQL).

CREATE TABLE namespaces (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE tokens (
    id           UUID PRIMARY KEY,
    principal    TEXT NOT NULL,
    -- SHA-256 of the secret; the secret itself is never stored.
    secret_hash  BYTEA NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX tokens_principal ON tokens (principal);

-- principal -> role bindings; namespace '*' holds global roles.
CREATE TABLE role_bindings (
    principal  TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (principal, namespace, role)
);
CREATE INDEX role_bindings_namespace ON role_bindings (namespace);

CREATE TABLE models (
    id           UUID PRIMARY KEY,
    namespace    TEXT NOT NULL REFERENCES namespaces (name),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL,
    -- Next version number to hand out; bumped under the row lock so numbers are gap-free.
    next_version BIGINT NOT NULL DEFAULT 1,
    UNIQUE (namespace, name)
);

CREATE TABLE versions (
    id          UUID PRIMARY KEY,
    model_id    UUID NOT NULL REFERENCES models (id),
    version     BIGINT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('draft', 'sealed')),
    lineage     JSONB NOT NULL,
    metadata    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    sealed_at   TIMESTAMPTZ,
    root_digest TEXT,
    UNIQUE (model_id, version)
);

CREATE TABLE files (
    version_id UUID NOT NULL REFERENCES versions (id),
    path       TEXT NOT NULL,
    size       BIGINT NOT NULL CHECK (size >= 0),
    sha256     TEXT NOT NULL,
    -- The blob holding the bytes; one blob per upload, never shared.
    blob_id    UUID NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (version_id, path)
);

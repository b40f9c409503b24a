-- Signet metadata schema (SQLite). Mirrors migrations/postgres; UUIDs are 16-byte blobs, times RFC 3339 text, JSON text.

CREATE TABLE namespaces (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE tokens (
    id           BLOB PRIMARY KEY,
    principal    TEXT NOT NULL,
    -- SHA-256 of the secret; the secret itself is never stored.
    secret_hash  BLOB NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX tokens_principal ON tokens (principal);

-- principal -> role bindings; namespace '*' holds global roles.
CREATE TABLE role_bindings (
    principal  TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (principal, namespace, role)
);
CREATE INDEX role_bindings_namespace ON role_bindings (namespace);

CREATE TABLE models (
    id           BLOB PRIMARY KEY,
    namespace    TEXT NOT NULL REFERENCES namespaces (name),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    -- Next version number to hand out; bumped under the row lock so numbers are gap-free.
    next_version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (namespace, name)
);

CREATE TABLE versions (
    id          BLOB PRIMARY KEY,
    model_id    BLOB NOT NULL REFERENCES models (id),
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('draft', 'sealed')),
    lineage     TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    sealed_at   TEXT,
    root_digest TEXT,
    UNIQUE (model_id, version)
);

CREATE TABLE files (
    version_id BLOB NOT NULL REFERENCES versions (id),
    path       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     TEXT NOT NULL,
    -- The blob holding the bytes; one blob per upload, never shared.
    blob_id    BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (version_id, path)
);

-- Trusted keys, signatures, aliases (promotion) and per-namespace policy.

ALTER TABLE files ADD COLUMN format TEXT NOT NULL DEFAULT 'unknown';

-- Promotion policy of a namespace; `{}` means the defaults.
ALTER TABLE namespaces ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';

CREATE TABLE keys (
    -- Lowercase hex SHA-256 of the SPKI PEM text (LF line ends).
    keyid             TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    algorithm         TEXT NOT NULL,
    public_key        TEXT NOT NULL,
    -- JSON array of namespaces the key may sign for, or ["*"].
    namespaces        TEXT NOT NULL,
    expires_at        TEXT,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    revoked_at        TEXT,
    revocation_reason TEXT CHECK (revocation_reason IN ('compromised', 'retired')),
    revocation_note   TEXT
);

CREATE TABLE signatures (
    version_id  BLOB NOT NULL REFERENCES versions (id),
    keyid       TEXT NOT NULL REFERENCES keys (keyid),
    -- The document as received, byte for byte (envelope or bundle).
    envelope    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    received_by TEXT NOT NULL,
    PRIMARY KEY (version_id, keyid)
);
CREATE INDEX signatures_keyid ON signatures (keyid);

-- Where each alias points now. A deleted alias keeps its row with a NULL version,
-- so every later move locks the same row.
CREATE TABLE aliases (
    model_id   BLOB NOT NULL REFERENCES models (id),
    alias      TEXT NOT NULL,
    version    INTEGER,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (model_id, alias)
);

-- Every move, never rewritten.
CREATE TABLE alias_history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id         BLOB NOT NULL REFERENCES models (id),
    alias            TEXT NOT NULL,
    version          INTEGER,
    previous_version INTEGER,
    principal        TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    at               TEXT NOT NULL
);
CREATE INDEX alias_history_alias ON alias_history (model_id, alias, id);

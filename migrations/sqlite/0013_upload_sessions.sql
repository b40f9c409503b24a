-- Resumable uploads: a session receives a file's bytes over several requests,
-- in parts appended at the committed offset. The running SHA-256 state after
-- the last committed part is kept, so the digest survives interruptions.
-- The file becomes visible only when the session completes (a row in files);
-- abandoned sessions expire (expires_at: seconds since the Unix epoch) and
-- garbage collection removes them and their parts.

CREATE TABLE upload_sessions (
    id           BLOB PRIMARY KEY,
    version_id   BLOB NOT NULL REFERENCES versions (id),
    path         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    -- The artifact object the parts become.
    blob_id      BLOB NOT NULL,
    -- The storage's multipart upload (S3), when it has one.
    multipart_id TEXT,
    committed    BIGINT NOT NULL DEFAULT 0,
    hash_state   BLOB,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    completed    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX upload_sessions_version ON upload_sessions (version_id);
CREATE INDEX upload_sessions_expiry ON upload_sessions (expires_at);

CREATE TABLE upload_parts (
    upload_id BLOB NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
    number    BIGINT NOT NULL,
    -- What the storage answered for the part (S3's ETag).
    etag      TEXT,
    -- SHA-256 of each 4 MiB block of the part, concatenated.
    blocks    BLOB NOT NULL,
    PRIMARY KEY (upload_id, number)
);

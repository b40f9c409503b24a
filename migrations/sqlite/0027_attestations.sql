-- Mirrors migrations/postgres/0027_attestations.sql.
-- Attestations: DSSE envelopes of in-toto statements about a sealed version
-- (an evaluation, a scan, an SBOM, build provenance), verified against the
-- keys trusted for its namespace on arrival and kept byte for byte. Several
-- of one predicate type may be kept (a re-evaluation); the same document
-- once.
CREATE TABLE attestations (
    id             BLOB PRIMARY KEY,
    version_id     BLOB NOT NULL REFERENCES versions (id),
    predicate_type TEXT NOT NULL,
    keyid          TEXT NOT NULL REFERENCES keys (keyid),
    -- SHA-256 of the document as received, hex.
    digest         TEXT NOT NULL,
    envelope       TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    received_by    TEXT NOT NULL,
    UNIQUE (version_id, digest)
);
CREATE INDEX attestations_version ON attestations (version_id, predicate_type, received_at);

-- The promotion record of a move: a DSSE envelope of an in-toto statement
-- (the promotion predicate) signed with the registry's own key at the move,
-- in its transaction. Moves recorded before it have none.
ALTER TABLE alias_history ADD COLUMN record TEXT;

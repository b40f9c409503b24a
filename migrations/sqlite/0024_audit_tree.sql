-- Mirrors migrations/postgres/0024_audit_tree.sql.
-- The access log as an RFC 6962 Merkle tree (the transparency log): leaf
-- n - 1 is event n's line of `audit export`. The hash of every complete
-- subtree (2^level leaves from idx * 2^level) is written once, when its last
-- leaf arrives: about two per event, never rewritten, and kept when
-- `audit-archive` drops events, so what was archived can still be proved.
CREATE TABLE audit_tree (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);

-- How many events the tree holds. It grows behind the chain, from the chain,
-- under this row's lock (an older release appends events without it).
CREATE TABLE audit_tree_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL
);
INSERT INTO audit_tree_head (id, size) VALUES (1, 0);

-- The checkpoint signed at each size the tree reached, as a signed note.
CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

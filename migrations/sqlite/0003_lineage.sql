-- Lineage indexes (what a version was built from, queryable) and quarantines.
-- Mirrors migrations/postgres/0003_lineage.sql.

ALTER TABLE versions ADD COLUMN code_commit TEXT;
CREATE INDEX versions_code_commit ON versions (code_commit);

CREATE TABLE version_datasets (
    version_id BLOB NOT NULL REFERENCES versions (id),
    sha256     TEXT NOT NULL,
    PRIMARY KEY (version_id, sha256)
);
CREATE INDEX version_datasets_sha256 ON version_datasets (sha256);

CREATE TABLE version_parents (
    version_id BLOB NOT NULL REFERENCES versions (id),
    parent_id  BLOB NOT NULL REFERENCES versions (id),
    PRIMARY KEY (version_id, parent_id)
);
CREATE INDEX version_parents_parent ON version_parents (parent_id);

UPDATE versions SET code_commit = json_extract(lineage, '$.code.commit');
INSERT OR IGNORE INTO version_datasets (version_id, sha256)
    SELECT v.id, json_extract(d.value, '$.sha256')
    FROM versions v, json_each(v.lineage, '$.data') d;
INSERT OR IGNORE INTO version_parents (version_id, parent_id)
    SELECT v.id, pv.id
    FROM versions v, json_each(v.lineage, '$.parents') p
    JOIN models pm ON pm.namespace || '/' || pm.name = json_extract(p.value, '$.model')
    JOIN versions pv ON pv.model_id = pm.id AND pv.version = json_extract(p.value, '$.version');

CREATE TABLE quarantines (
    id          BLOB PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('dataset', 'commit', 'version')),
    value       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    lifted_at   TEXT,
    lifted_by   TEXT,
    lift_reason TEXT
);
CREATE INDEX quarantines_active ON quarantines (kind, value) WHERE lifted_at IS NULL;

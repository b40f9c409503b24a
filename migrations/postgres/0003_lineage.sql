-- Lineage indexes (what a version was built from, queryable) and quarantines.

ALTER TABLE versions ADD COLUMN code_commit TEXT;
CREATE INDEX versions_code_commit ON versions (code_commit);

CREATE TABLE version_datasets (
    version_id UUID NOT NULL REFERENCES versions (id),
    sha256     TEXT NOT NULL,
    PRIMARY KEY (version_id, sha256)
);
CREATE INDEX version_datasets_sha256 ON version_datasets (sha256);

-- Fine-tunes: a version and each base version it names in lineage.parents.
CREATE TABLE version_parents (
    version_id UUID NOT NULL REFERENCES versions (id),
    parent_id  UUID NOT NULL REFERENCES versions (id),
    PRIMARY KEY (version_id, parent_id)
);
CREATE INDEX version_parents_parent ON version_parents (parent_id);

UPDATE versions SET code_commit = lineage #>> '{code,commit}';
INSERT INTO version_datasets (version_id, sha256)
    SELECT DISTINCT v.id, d ->> 'sha256'
    FROM versions v, jsonb_array_elements(COALESCE(v.lineage -> 'data', '[]'::jsonb)) d;
INSERT INTO version_parents (version_id, parent_id)
    SELECT DISTINCT v.id, pv.id
    FROM versions v
    CROSS JOIN jsonb_array_elements(COALESCE(v.lineage -> 'parents', '[]'::jsonb)) p
    JOIN models pm ON pm.namespace || '/' || pm.name = p ->> 'model'
    JOIN versions pv ON pv.model_id = pm.id AND pv.version = (p ->> 'version')::bigint;

CREATE TABLE quarantines (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('dataset', 'commit', 'version')),
    -- A dataset digest, a commit id, or namespace/model@version.
    value       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    lifted_at   TIMESTAMPTZ,
    lifted_by   TEXT,
    lift_reason TEXT
);
CREATE INDEX quarantines_active ON quarantines (kind, value) WHERE lifted_at IS NULL;

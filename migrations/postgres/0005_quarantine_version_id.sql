-- A version quarantine names its version by id, so the quarantine check compares
-- ids instead of rebuilding `namespace/model@version` text for every version.

ALTER TABLE quarantines ADD COLUMN version_id UUID REFERENCES versions (id);
UPDATE quarantines q SET version_id = v.id
    FROM versions v JOIN models m ON m.id = v.model_id
    WHERE q.kind = 'version'
      AND q.value = m.namespace || '/' || m.name || '@' || CAST(v.version AS TEXT);
CREATE INDEX quarantines_version ON quarantines (version_id) WHERE lifted_at IS NULL;

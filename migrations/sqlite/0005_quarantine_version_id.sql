-- A version quarantine names its version by id, so the quarantine check compares
-- ids instead of rebuilding `namespace/model@version` text for every version.
-- Mirrors migrations/postgres/0005_quarantine_version_id.sql.

ALTER TABLE quarantines ADD COLUMN version_id BLOB REFERENCES versions (id);
UPDATE quarantines SET version_id = (
    SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id
    WHERE quarantines.value = m.namespace || '/' || m.name || '@' || CAST(v.version AS TEXT))
WHERE kind = 'version';
CREATE INDEX quarantines_version ON quarantines (version_id) WHERE lifted_at IS NULL;

-- Mirrors migrations/postgres/0011_format_reason.sql.
-- Why a file's bytes were recognised as its format (shown in the version view).
-- Files recognised before keep ''.

ALTER TABLE files ADD COLUMN format_reason TEXT NOT NULL DEFAULT '';

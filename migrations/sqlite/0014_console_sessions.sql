-- Mirrors migrations/postgres/0014_console_sessions.sql.
-- A console session is a token of its own kind: minted at sign-in from the
-- API token pasted there (a child of it, so it is revoked with it), short-lived,
-- accepted only as the console's session cookie and never as a bearer token.
-- Like every token, only its secret's hash is stored.

ALTER TABLE tokens ADD COLUMN console INTEGER NOT NULL DEFAULT 0 CHECK (console IN (0, 1));

-- "One principal's events in a time window" (newest first): the principal's
-- events are walked in seq order, and with `at` in the index each is checked
-- without reading its row. Mirrors migrations/postgres.
CREATE INDEX audit_events_principal_seq_at ON audit_events (principal, seq, at);

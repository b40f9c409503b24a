-- no-transaction
-- "One principal's events in a time window" (newest first): the principal's
-- events are walked in seq order, and with `at` in the index each is checked
-- without reading its row. Built concurrently, so the log keeps taking events
-- while it builds; 0018 then drops the index this one extends.
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_events_principal_seq_at
    ON audit_events (principal, seq, at);

-- no-transaction
-- audit_events_principal (principal, seq) is a prefix of 0017's index: every
-- query it served, that one serves, and each event appended pays one index less.
DROP INDEX CONCURRENTLY IF EXISTS audit_events_principal;

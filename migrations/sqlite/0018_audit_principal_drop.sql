-- audit_events_principal (principal, seq) is a prefix of 0017's index: every
-- query it served, that one serves. Mirrors migrations/postgres.
DROP INDEX audit_events_principal;

-- The access log's outcomes gain `refused`: a request the registry's policy
-- refused (the promotion gate, a deployer's pull the gate does not allow), as
-- distinct from `denied` access and `error`. Only the check widens, so the
-- release before keeps writing what it wrote; NOT VALID skips a scan of rows
-- that can hold only the old values.
ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_outcome_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_outcome_check
    CHECK (outcome IN ('allowed', 'denied', 'error', 'refused')) NOT VALID;
ALTER TABLE audit_inbox DROP CONSTRAINT IF EXISTS audit_inbox_outcome_check;
ALTER TABLE audit_inbox ADD CONSTRAINT audit_inbox_outcome_check
    CHECK (outcome IN ('allowed', 'denied', 'error', 'refused')) NOT VALID;

-- no-transaction
-- "A model's denials" (a model and an outcome, newest first): with only the
-- single-column indexes the planner may walk every denial in the log to find a
-- model's. Built concurrently, so the log keeps taking events while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_events_model_outcome
    ON audit_events (model, outcome, seq);

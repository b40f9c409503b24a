-- "A model's denials" (a model and an outcome, newest first). Mirrors migrations/postgres.
CREATE INDEX audit_events_model_outcome ON audit_events (model, outcome, seq);

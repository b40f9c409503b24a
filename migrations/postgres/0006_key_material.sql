-- A key's identity is its key material, whatever text it was uploaded in: the
-- SHA-256 of its canonical SPKI PEM. One key material is registered once.
-- Keys registered before this column existed keep NULL here; registration
-- compares against their parsed material too.

ALTER TABLE keys ADD COLUMN material TEXT;
CREATE UNIQUE INDEX keys_material ON keys (material);

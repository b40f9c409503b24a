-- Mirrors migrations/postgres/0020_sha256_chain.sql.
-- A range of a file is checked block by block (4 MiB) before its bytes are sent.
-- Instead of a second SHA-256 of every block at upload, the upload records the
-- file's own SHA-256 chaining value at each block boundary before its end
-- (32 bytes each, concatenated): a block is checked by hashing on from the value
-- before it to the value after it (the last block: to the file's digest).
-- Files stored before keep their block_digests; a file with neither gets its
-- chaining values once, after the whole file checks out against its digest.
ALTER TABLE files ADD COLUMN sha256_chain BLOB;

-- The same values for the boundaries inside and at the end of a resumable
-- upload's part; NULL for parts stored before this column (their blocks hold
-- block digests, and new parts leave blocks empty).
ALTER TABLE upload_parts ADD COLUMN chain BLOB;

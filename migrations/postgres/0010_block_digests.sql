-- The SHA-256 of each 4 MiB block of a file, concatenated (32 bytes a block), so
-- a range can be checked before its bytes are sent. NULL for files stored before
-- this column existed: their digests are computed once, after the whole file
-- checks out against its recorded digest.

ALTER TABLE files ADD COLUMN block_digests BYTEA;

-- +goose Up
-- A loaded file's rows told by their keys: how many, and two sums of their
-- keyed ids (see loaders' fingerprint). A file whose rows are, key for key,
-- those of a file already loaded (a branch sending a day again, re-encoded
-- or under a new name) is recorded as a copy of it instead of being loaded
-- and built again. Set only where the key is made from every column, so
-- that equal keys are equal rows.
ALTER TABLE percolate.files ADD COLUMN rows_fingerprint text;
CREATE INDEX files_rows_fingerprint ON percolate.files (source, rows_fingerprint) WHERE rows_fingerprint IS NOT NULL;

-- +goose Down
DROP INDEX percolate.files_rows_fingerprint;
ALTER TABLE percolate.files DROP COLUMN rows_fingerprint;

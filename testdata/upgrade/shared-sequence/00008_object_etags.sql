-- +goose Up
-- etag: for objects in a bucket, the ETag they had when loaded. An object
-- listed again under the same key with the same ETag and size is the same
-- object, and need not be downloaded again to learn its content hash.
ALTER TABLE percolate.files ADD COLUMN etag text;

-- +goose Down
ALTER TABLE percolate.files DROP COLUMN etag;

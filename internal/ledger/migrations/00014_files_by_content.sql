-- +goose Up
-- A load retires the same content read under another contract (a replay)
-- by its hash: an index finds it, whatever the file's status.
CREATE INDEX files_source_content ON percolate.files (source, content_hash);

-- +goose Down
DROP INDEX percolate.files_source_content;

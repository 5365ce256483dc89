-- +goose Up
-- modified_at: a local file's modification time when it was loaded. A file
-- listed again at the same path with the same size and modification time
-- is taken to be the same file and is not read again (as make and rsync
-- do), so a nightly run over years of files reads only the new ones.
ALTER TABLE percolate.files ADD COLUMN modified_at timestamptz;

-- +goose Down
ALTER TABLE percolate.files DROP COLUMN modified_at;

-- +goose Up
-- Each build records its model's column versions (a fingerprint of each
-- output column's SQL), so that plan can tell which columns an edit
-- changed, and name the dashboard panels that read them.
ALTER TABLE percolate.model_builds ADD COLUMN column_versions jsonb;

-- +goose Down
ALTER TABLE percolate.model_builds DROP COLUMN column_versions;

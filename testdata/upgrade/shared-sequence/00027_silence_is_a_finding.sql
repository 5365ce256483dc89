-- +goose Up
-- A whole source gone quiet is one finding (kind silent, branch ''),
-- not one per branch and day.
ALTER TABLE percolate.expectations DROP CONSTRAINT expectations_kind_check,
    ADD CONSTRAINT expectations_kind_check CHECK (kind IN ('missing', 'stale', 'volume', 'silent'));
-- How long each pipeline may go without a successful run
-- (pipelines.yaml: success_within), recorded by every run and check of
-- its sources: health.last_success reads it.
CREATE TABLE percolate.pipelines (
    pipeline       text        PRIMARY KEY,
    success_within interval    NOT NULL,
    declared_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE percolate.pipelines;
DELETE FROM percolate.expectations WHERE kind = 'silent';
ALTER TABLE percolate.expectations DROP CONSTRAINT expectations_kind_check,
    ADD CONSTRAINT expectations_kind_check CHECK (kind IN ('missing', 'stale', 'volume'));

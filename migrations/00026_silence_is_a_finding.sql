-- +goose Up
-- A whole source gone quiet is one finding (kind silent, branch ''),
-- not one per branch and day.
ALTER TABLE percolate.expectations DROP CONSTRAINT expectations_kind_check,
    ADD CONSTRAINT expectations_kind_check CHECK (kind IN ('missing', 'stale', 'volume', 'silent'));
-- A run stopped by Ctrl-C or SIGTERM is interrupted (not a failure); a run
-- that was killed is closed by the next run as abandoned. (The same as
-- 00025_run_statuses on main, which this branch did not have: harmless
-- twice, and droppable on merge.)
ALTER TABLE percolate.runs DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'ok', 'failed', 'interrupted', 'abandoned'));
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
UPDATE percolate.runs SET status = 'failed' WHERE status IN ('interrupted', 'abandoned');
ALTER TABLE percolate.runs DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'ok', 'failed'));
DELETE FROM percolate.expectations WHERE kind = 'silent';
ALTER TABLE percolate.expectations DROP CONSTRAINT expectations_kind_check,
    ADD CONSTRAINT expectations_kind_check CHECK (kind IN ('missing', 'stale', 'volume'));

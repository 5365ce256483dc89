-- +goose Up
-- Two more ways a run ends: interrupted (Ctrl-C or SIGTERM: it stopped at a
-- safe point, on purpose, and is no failure) and abandoned (it never said how
-- it ended: killed, or its server crashed; the next run closes it, with what
-- it committed counted from the manifest).
ALTER TABLE percolate.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE percolate.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'ok', 'failed', 'interrupted', 'abandoned'));

-- +goose Down
UPDATE percolate.runs SET status = 'failed' WHERE status IN ('interrupted', 'abandoned');
ALTER TABLE percolate.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE percolate.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'ok', 'failed'));

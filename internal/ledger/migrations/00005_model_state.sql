-- +goose Up
-- inputs: the state of the staging data a build read (per source table,
-- the files loaded), so that a run can tell unchanged models from stale ones.
-- own_version: the model's own fingerprint, without its parents', to tell
-- an edit of the model from a change upstream.
ALTER TABLE percolate.model_builds ADD COLUMN inputs text NOT NULL DEFAULT '',
                                   ADD COLUMN own_version text NOT NULL DEFAULT '';

-- check_results: every check run, with a sample of its failing rows.
CREATE TABLE percolate.check_results (
    run_id     bigint      REFERENCES percolate.runs,
    model      text        NOT NULL,
    check_name text        NOT NULL,
    severity   text        NOT NULL CHECK (severity IN ('error', 'warn')),
    failures   bigint      NOT NULL,
    sample     jsonb       NOT NULL DEFAULT '[]',
    checked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX check_results_run ON percolate.check_results (run_id);

-- +goose Down
DROP TABLE percolate.check_results;
ALTER TABLE percolate.model_builds DROP COLUMN inputs, DROP COLUMN own_version;

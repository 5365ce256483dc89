-- +goose Up
-- The checks each model's published relation was last checked with, one
-- fingerprint per check (its text and severity). A check is metadata, not
-- part of the model's version: adding or editing one rebuilds nothing, and
-- the next run runs the checks whose fingerprint is not here against the
-- published relation. A model with no row here has every check run once.
CREATE TABLE percolate.check_versions (
    model      text        NOT NULL,
    version    text        NOT NULL,
    run_id     bigint      REFERENCES percolate.runs ON DELETE SET NULL,
    checked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);

-- +goose Down
DROP TABLE percolate.check_versions;

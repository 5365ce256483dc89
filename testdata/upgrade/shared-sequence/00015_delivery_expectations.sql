-- +goose Up
-- Every check of the sources' deliveries (after a run, or by
-- check-sources), and what it found: branch-days missing, branches stale,
-- days of unusual volume. health.expectations shows the latest check.
CREATE TABLE percolate.source_checks (
    check_id   bigserial   PRIMARY KEY,
    run_id     bigint      REFERENCES percolate.runs,
    as_of      date        NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE percolate.expectations (
    check_id bigint NOT NULL REFERENCES percolate.source_checks ON DELETE CASCADE,
    source   text   NOT NULL,
    kind     text   NOT NULL CHECK (kind IN ('missing', 'stale', 'volume')),
    branch   text   NOT NULL,
    day      date   NOT NULL,
    severity text   NOT NULL CHECK (severity IN ('warn', 'error')),
    detail   text   NOT NULL
);
CREATE INDEX expectations_check ON percolate.expectations (check_id);

-- +goose Down
DROP TABLE percolate.expectations;
DROP TABLE percolate.source_checks;

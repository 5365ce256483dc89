-- +goose Up
-- What each environment (percolate run --env NAME) holds: per model, the
-- version built there and how (a table or view built from the model's SQL,
-- or "live": a view over the live relation). A table of its own, not a
-- column of model_builds, so that no query of a live run (last builds,
-- intervals, check results) can ever read an environment's builds: none
-- of them needs a filter to stay right.
CREATE TABLE percolate.env_builds (
    env      text NOT NULL,
    model    text NOT NULL,
    schema   text NOT NULL,
    version  text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('table', 'view', 'live')),
    built_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (env, model)
);

-- +goose Down
DROP TABLE percolate.env_builds;

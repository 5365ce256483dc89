-- +goose Up
-- seeds: the content each seed (seeds/<schema>/<name>.csv) was last loaded
-- with: a seed whose file hashes the same is not loaded again.
CREATE TABLE percolate.seeds (
    name      text        PRIMARY KEY,
    hash      text        NOT NULL,
    rows      bigint      NOT NULL,
    run_id    bigint,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

-- functions: the version of each project function (models/functions/*.sql)
-- as last created: one whose version is the same is not created again.
CREATE TABLE percolate.functions (
    name       text        PRIMARY KEY,
    version    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- vars: pipelines.yaml's vars, as the last build wrote them, which
-- percolate.var(name) reads: a model pasted into psql reads the values its
-- last build read.
CREATE TABLE percolate.vars (
    name  text PRIMARY KEY,
    value text NOT NULL
);
CREATE FUNCTION percolate.var(name text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT v.value FROM percolate.vars AS v WHERE v.name = $1 $$;
GRANT SELECT ON percolate.vars TO percolate_models;

-- +goose Down
DROP FUNCTION percolate.var(text);
DROP TABLE percolate.vars;
DROP TABLE percolate.functions;
DROP TABLE percolate.seeds;

-- +goose Up
-- runs: one row per percolate command that changed the warehouse.
CREATE TABLE percolate.runs (
    run_id        bigserial PRIMARY KEY,
    pipeline      text        NOT NULL,
    command       text        NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text        NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'ok', 'failed')),
    files_loaded  integer     NOT NULL DEFAULT 0,
    files_skipped integer     NOT NULL DEFAULT 0,
    rows_loaded   bigint      NOT NULL DEFAULT 0,
    rows_rejected bigint      NOT NULL DEFAULT 0,
    models_built  integer     NOT NULL DEFAULT 0,
    error         text
);

-- files: the file manifest. A file is known by its content hash; a path whose
-- content changed gets a new row and the old one is marked replaced.
CREATE TABLE percolate.files (
    load_id       bigserial PRIMARY KEY,
    run_id        bigint      REFERENCES percolate.runs,
    source        text        NOT NULL,
    path          text        NOT NULL,
    size          bigint      NOT NULL,
    content_hash  text        NOT NULL,
    rows_loaded   bigint      NOT NULL,
    rows_rejected bigint      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('loaded', 'replaced')),
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    replaced_by   bigint      REFERENCES percolate.files
);
CREATE UNIQUE INDEX files_source_hash ON percolate.files (source, content_hash) WHERE status = 'loaded';
CREATE INDEX files_source_path ON percolate.files (source, path);

-- rejects: rows that broke their source's contract, personal fields masked.
CREATE TABLE percolate.rejects (
    load_id     bigint  NOT NULL REFERENCES percolate.files ON DELETE CASCADE,
    source      text    NOT NULL,
    file        text    NOT NULL,
    line        integer NOT NULL,
    column_name text,
    reason      text    NOT NULL,
    raw         text    NOT NULL
);
CREATE INDEX rejects_load ON percolate.rejects (load_id);

-- model_builds: every version a model had, when and by which run it was built.
CREATE TABLE percolate.model_builds (
    run_id          bigint      NOT NULL REFERENCES percolate.runs,
    model           text        NOT NULL,
    version         text        NOT NULL,
    materialization text        NOT NULL,
    rows            bigint,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    PRIMARY KEY (run_id, model)
);
CREATE INDEX model_builds_model ON percolate.model_builds (model, finished_at DESC);

-- settings: facts about this warehouse that every run must agree with.
CREATE TABLE percolate.settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE percolate.settings;
DROP TABLE percolate.model_builds;
DROP TABLE percolate.rejects;
DROP TABLE percolate.files;
DROP TABLE percolate.runs;

-- +goose Up
-- A nightly run at a thousand branches × ten years: 3.65 M files in the
-- manifest. What it asks of the ledger is answered by an index, never by
-- a scan of every file.

-- folders: the folders of a source whose files are never rewritten
-- (immutable: true), with their modification time when a run listed them
-- and took every file in them. A folder still at that time is not listed
-- again; a new file in it moves its time. Keyed by the glob's pattern and
-- the contract too: a wider pattern, or a new contract that reads refused
-- files again, lists every folder once more.
CREATE TABLE percolate.folders (
    source      text        NOT NULL,
    path        text        NOT NULL,
    pattern     text        NOT NULL,
    contract    text        NOT NULL,
    modified_at timestamptz NOT NULL,
    listed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, path)
);

-- The state of a source's loaded files (SourceStates) and its newest
-- load: read from the loaded files' ids, not the manifest's rows.
CREATE INDEX files_loaded ON percolate.files (source, load_id) WHERE status = 'loaded';

-- The files a contract change reads again (Outdated): few, found without
-- reading the others.
CREATE INDEX files_outdated ON percolate.files (source, contract)
    WHERE status = 'refused' OR status = 'loaded' AND rows_rejected > 0;

-- +goose Down
DROP INDEX percolate.files_outdated;
DROP INDEX percolate.files_loaded;
DROP TABLE percolate.folders;

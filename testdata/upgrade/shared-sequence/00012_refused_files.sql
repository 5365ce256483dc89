-- +goose Up
-- The manifest remembers refused files too: by content hash, with the
-- reason, so that later runs pass over them (with a warning) instead of
-- refusing them again every night. Every file also records the
-- fingerprint of the source contract it was read under: after the contract
-- changes, the files it refused or rejected rows of are read again.
-- Files recorded before this migration have the empty fingerprint: those
-- with rejects are read again once, under the contract of the day.
ALTER TABLE percolate.files DROP CONSTRAINT files_status_check,
    ADD CONSTRAINT files_status_check CHECK (status IN ('loaded', 'replaced', 'refused')),
    ADD COLUMN reason text,
    ADD COLUMN contract text NOT NULL DEFAULT '';
DROP INDEX percolate.files_source_hash;
-- A content is loaded once per contract: replaying it under a new contract
-- claims it anew, and the load replaces the old one in its transaction.
CREATE UNIQUE INDEX files_source_hash ON percolate.files (source, content_hash, contract) WHERE status = 'loaded';
CREATE UNIQUE INDEX files_source_hash_refused ON percolate.files (source, content_hash) WHERE status = 'refused';

-- +goose Down
UPDATE percolate.files SET replaced_by = NULL WHERE replaced_by IN (SELECT load_id FROM percolate.files WHERE status = 'refused');
DELETE FROM percolate.files WHERE status = 'refused';
DROP INDEX percolate.files_source_hash_refused;
DROP INDEX percolate.files_source_hash;
CREATE UNIQUE INDEX files_source_hash ON percolate.files (source, content_hash) WHERE status = 'loaded';
ALTER TABLE percolate.files DROP COLUMN contract, DROP COLUMN reason,
    DROP CONSTRAINT files_status_check,
    ADD CONSTRAINT files_status_check CHECK (status IN ('loaded', 'replaced'));

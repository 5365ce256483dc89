-- +goose Up
-- A load that will at least double its staging tables drops their BRIN
-- indexes and builds them again when it ends: on PostgreSQL 15 a BRIN
-- index is kept row by row, at half the cost of writing the row, where
-- building it afterwards reads each page once. Each dropped index is
-- recorded here in the transaction that drops it, and deleted in the one
-- that builds it again, so that one a killed load leaves dropped is built
-- by the next load or build.
CREATE TABLE percolate.deferred_indexes (
    name       text        PRIMARY KEY, -- schema-qualified
    definition text        NOT NULL,    -- pg_get_indexdef
    deferred_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE percolate.deferred_indexes;

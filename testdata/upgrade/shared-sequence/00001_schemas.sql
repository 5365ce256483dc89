-- +goose Up
-- The ledger, the landing zone, the normalised core and the marts each get
-- a schema, so that grants can follow the layers.
-- percolate exists already: goose's version table lives in it.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;

-- +goose Down
DROP SCHEMA IF EXISTS marts CASCADE;
DROP SCHEMA IF EXISTS core CASCADE;
DROP SCHEMA IF EXISTS staging CASCADE;
-- The percolate schema stays: goose keeps its version table there.

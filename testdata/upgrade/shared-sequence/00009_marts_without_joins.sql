-- +goose Up
-- Rows written once, marts without joins: an order row keeps how many items
-- it has, and item rows carry their order's branch, so the sales marts are
-- sums over one table each (pipelines.yaml: items count and carry).
ALTER TABLE staging.transactions ADD COLUMN item_count integer;
ALTER TABLE staging.legacy_transactions ADD COLUMN item_count integer;
ALTER TABLE staging.transaction_items ADD COLUMN branch text;
ALTER TABLE staging.legacy_transaction_items ADD COLUMN branch text;
UPDATE staging.transactions t SET item_count = i.n
  FROM (SELECT load_id, source_line, count(*)::integer AS n FROM staging.transaction_items GROUP BY 1, 2) i
  WHERE i.load_id = t.load_id AND i.source_line = t.source_line;
UPDATE staging.legacy_transactions t SET item_count = i.n
  FROM (SELECT load_id, source_line, count(*)::integer AS n FROM staging.legacy_transaction_items GROUP BY 1, 2) i
  WHERE i.load_id = t.load_id AND i.source_line = t.source_line;
UPDATE staging.transaction_items i SET branch = t.branch
  FROM staging.transactions t WHERE t.load_id = i.load_id AND t.source_line = i.source_line;
UPDATE staging.legacy_transaction_items i SET branch = t.branch
  FROM staging.legacy_transactions t WHERE t.load_id = i.load_id AND t.source_line = i.source_line;
ALTER TABLE staging.transactions ALTER COLUMN item_count SET NOT NULL;
ALTER TABLE staging.legacy_transactions ALTER COLUMN item_count SET NOT NULL;
ALTER TABLE staging.transaction_items ALTER COLUMN branch SET NOT NULL;
ALTER TABLE staging.legacy_transaction_items ALTER COLUMN branch SET NOT NULL;

-- PostgreSQL 15 keeps a BRIN index up to date row by row, reading its
-- metapage for every row: each cost about as much as writing the row. A
-- replaced file's rows are found through its days instead (the ledger
-- knows them), so the indexes on load_id go; those on the day stay.
DROP INDEX staging.transactions_load_brin;
DROP INDEX staging.transaction_items_load_brin;
DROP INDEX staging.legacy_transactions_load_brin;
DROP INDEX staging.legacy_transaction_items_load_brin;

-- +goose Down
CREATE INDEX transactions_load_brin ON staging.transactions USING brin (load_id);
CREATE INDEX transaction_items_load_brin ON staging.transaction_items USING brin (load_id);
CREATE INDEX legacy_transactions_load_brin ON staging.legacy_transactions USING brin (load_id);
CREATE INDEX legacy_transaction_items_load_brin ON staging.legacy_transaction_items USING brin (load_id);
ALTER TABLE staging.legacy_transaction_items DROP COLUMN branch;
ALTER TABLE staging.transaction_items DROP COLUMN branch;
ALTER TABLE staging.legacy_transactions DROP COLUMN item_count;
ALTER TABLE staging.transactions DROP COLUMN item_count;

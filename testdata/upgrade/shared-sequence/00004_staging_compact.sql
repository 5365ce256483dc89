-- +goose Up
-- Order ids are 128-bit keyed hashes: uuid stores them in 16 bytes instead
-- of 33. Item rows name their file through load_id only: they outnumber the
-- orders and the path is in the manifest.
ALTER TABLE staging.transactions ALTER COLUMN order_id TYPE uuid USING order_id::uuid;
ALTER TABLE staging.legacy_transactions ALTER COLUMN order_id TYPE uuid USING order_id::uuid;
ALTER TABLE staging.transaction_items ALTER COLUMN order_id TYPE uuid USING order_id::uuid, DROP COLUMN source_file;
ALTER TABLE staging.legacy_transaction_items ALTER COLUMN order_id TYPE uuid USING order_id::uuid, DROP COLUMN source_file;

-- Staging is append-mostly and loaded in bulk: B-tree indexes on random
-- order ids cost more at load than they ever save. load_id and sales_date
-- grow with the loads, so BRIN indexes find a file's or a day's rows for a
-- fraction of the upkeep.
DROP INDEX staging.transactions_load_id_idx;
DROP INDEX staging.transactions_sales_date_idx;
DROP INDEX staging.transaction_items_load_id_idx;
DROP INDEX staging.transaction_items_order_id_idx;
DROP INDEX staging.legacy_transactions_load_id_idx;
DROP INDEX staging.legacy_transactions_sales_date_idx;
DROP INDEX staging.legacy_transaction_items_load_id_idx;
DROP INDEX staging.legacy_transaction_items_order_id_idx;
CREATE INDEX transactions_load_brin ON staging.transactions USING brin (load_id);
CREATE INDEX transactions_date_brin ON staging.transactions USING brin (sales_date);
CREATE INDEX transaction_items_load_brin ON staging.transaction_items USING brin (load_id);
CREATE INDEX legacy_transactions_load_brin ON staging.legacy_transactions USING brin (load_id);
CREATE INDEX legacy_transactions_date_brin ON staging.legacy_transactions USING brin (sales_date);
CREATE INDEX legacy_transaction_items_load_brin ON staging.legacy_transaction_items USING brin (load_id);

-- +goose Down
ALTER TABLE staging.transactions ALTER COLUMN order_id TYPE text USING replace(order_id::text, '-', '');
ALTER TABLE staging.legacy_transactions ALTER COLUMN order_id TYPE text USING replace(order_id::text, '-', '');
ALTER TABLE staging.transaction_items ALTER COLUMN order_id TYPE text USING replace(order_id::text, '-', ''), ADD COLUMN source_file text;
ALTER TABLE staging.legacy_transaction_items ALTER COLUMN order_id TYPE text USING replace(order_id::text, '-', ''), ADD COLUMN source_file text;
DROP INDEX staging.transactions_load_brin;
DROP INDEX staging.transactions_date_brin;
DROP INDEX staging.transaction_items_load_brin;
DROP INDEX staging.legacy_transactions_load_brin;
DROP INDEX staging.legacy_transactions_date_brin;
DROP INDEX staging.legacy_transaction_items_load_brin;
CREATE INDEX ON staging.transactions (load_id);
CREATE INDEX ON staging.transactions (sales_date);
CREATE INDEX ON staging.transaction_items (load_id);
CREATE INDEX ON staging.transaction_items (order_id);
CREATE INDEX ON staging.legacy_transactions (load_id);
CREATE INDEX ON staging.legacy_transactions (sales_date);
CREATE INDEX ON staging.legacy_transaction_items (load_id);
CREATE INDEX ON staging.legacy_transaction_items (order_id);

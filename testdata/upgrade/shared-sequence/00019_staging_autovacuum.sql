-- +goose Up
-- Staging tables are appended to in bulk, and every build first analyzes
-- those it reads that changed by a tenth (and vacuums those the buffer
-- pool cannot hold): autovacuum's passes triggered by inserts (a vacuum
-- and an analyze of each table every fifth of its size) only took a core
-- from the load and the builds, on the year about a second of CPU. Dead
-- rows (a replaced file's) still trigger a vacuum, and wraparound
-- protection is untouched.
ALTER TABLE staging.transactions SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.transaction_items SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.transaction_item_sums SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.legacy_transactions SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.legacy_transaction_items SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.legacy_transaction_item_sums SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);

-- +goose Down
ALTER TABLE staging.transactions RESET (autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor);
ALTER TABLE staging.transaction_items RESET (autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor);
ALTER TABLE staging.transaction_item_sums RESET (autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor);
ALTER TABLE staging.legacy_transactions RESET (autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor);
ALTER TABLE staging.legacy_transaction_items RESET (autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor);
ALTER TABLE staging.legacy_transaction_item_sums RESET (autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor);

-- +goose Up
-- Item rows carry their order's day, so a day's items are found without
-- reading every order.
ALTER TABLE staging.transaction_items ADD COLUMN sales_date date;
ALTER TABLE staging.legacy_transaction_items ADD COLUMN sales_date date;
UPDATE staging.transaction_items i SET sales_date = t.sales_date
  FROM staging.transactions t WHERE t.load_id = i.load_id AND t.order_id = i.order_id AND t.source_line = i.source_line;
UPDATE staging.legacy_transaction_items i SET sales_date = t.sales_date
  FROM staging.legacy_transactions t WHERE t.load_id = i.load_id AND t.order_id = i.order_id AND t.source_line = i.source_line;
CREATE INDEX transaction_items_date_brin ON staging.transaction_items USING brin (sales_date);
CREATE INDEX legacy_transaction_items_date_brin ON staging.legacy_transaction_items USING brin (sales_date);

-- +goose Down
ALTER TABLE staging.legacy_transaction_items DROP COLUMN sales_date;
ALTER TABLE staging.transaction_items DROP COLUMN sales_date;

-- +goose Up
-- Each order's items are kept in its own row, in a text column: an item a
-- line, its size (empty when it has none), product and price parted by
-- tabs. The server writes one row per order instead of one more per item
-- (2.5 an order): the year's typed rows took 3.8 s to COPY as order and
-- item rows and 1.9 s as order rows holding their items. Nothing reads
-- item rows in bulk any more (the product mart sums the files' item sums):
-- core.order_items unnests the column.
--
-- core.order_items reads the item tables: the run that applies this makes
-- it again from models/core/order_items.sql, over the new column. (First:
-- on Citus, no view command may follow the UPDATEs' parallel work on the
-- shards in one transaction.)
DROP VIEW IF EXISTS core.order_items;
ALTER TABLE staging.transactions ADD COLUMN items text;
ALTER TABLE staging.legacy_transactions ADD COLUMN items text;
UPDATE staging.transactions AS o SET items = i.items
FROM (SELECT branch, load_id, source_line,
             string_agg(concat_ws(E'\t', coalesce(size, ''), translate(product, E'\t\n', '  '), price), E'\n' ORDER BY item_no) AS items
      FROM staging.transaction_items
      GROUP BY branch, load_id, source_line) AS i
WHERE o.branch = i.branch AND o.load_id = i.load_id AND o.source_line = i.source_line;
UPDATE staging.legacy_transactions AS o SET items = i.items
FROM (SELECT branch, load_id, source_line,
             string_agg(concat_ws(E'\t', coalesce(size, ''), translate(product, E'\t\n', '  '), price), E'\n' ORDER BY item_no) AS items
      FROM staging.legacy_transaction_items
      GROUP BY branch, load_id, source_line) AS i
WHERE o.branch = i.branch AND o.load_id = i.load_id AND o.source_line = i.source_line;
ALTER TABLE staging.transactions ALTER COLUMN items SET NOT NULL;
ALTER TABLE staging.legacy_transactions ALTER COLUMN items SET NOT NULL;
DROP TABLE staging.transaction_items;
DROP TABLE staging.legacy_transaction_items;

-- +goose Down
DROP VIEW IF EXISTS core.order_items;
CREATE TABLE staging.transaction_items (
    load_id     bigint        NOT NULL,
    source_line integer       NOT NULL,
    order_id    uuid          NOT NULL,
    item_no     integer       NOT NULL,
    size        text,
    product     text          NOT NULL,
    price       numeric(10,2) NOT NULL,
    sales_date  date,
    branch      text          NOT NULL
);
CREATE TABLE staging.legacy_transaction_items (LIKE staging.transaction_items);
INSERT INTO staging.transaction_items
SELECT o.load_id, o.source_line, o.order_id, it.n, nullif(split_part(it.item, E'\t', 1), ''),
       split_part(it.item, E'\t', 2), split_part(it.item, E'\t', 3)::numeric(10,2), o.sales_date, o.branch
FROM staging.transactions AS o, unnest(string_to_array(o.items, E'\n')) WITH ORDINALITY AS it(item, n);
INSERT INTO staging.legacy_transaction_items
SELECT o.load_id, o.source_line, o.order_id, it.n, nullif(split_part(it.item, E'\t', 1), ''),
       split_part(it.item, E'\t', 2), split_part(it.item, E'\t', 3)::numeric(10,2), o.sales_date, o.branch
FROM staging.legacy_transactions AS o, unnest(string_to_array(o.items, E'\n')) WITH ORDINALITY AS it(item, n);
CREATE INDEX transaction_items_date_brin ON staging.transaction_items USING brin (sales_date);
CREATE INDEX legacy_transaction_items_date_brin ON staging.legacy_transaction_items USING brin (sales_date);
ALTER TABLE staging.transaction_items SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.legacy_transaction_items SET (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
ALTER TABLE staging.transactions DROP COLUMN items;
ALTER TABLE staging.legacy_transactions DROP COLUMN items;

-- +goose Up
-- Each file's items counted and their prices summed by day, size, product
-- and branch (pipelines.yaml: items sums). The product mart sums these, one
-- row per file and product sold, instead of every item row: on a year of
-- ten branches, 179 thousand rows instead of 2.7 million.
CREATE TABLE staging.transaction_item_sums (
    load_id    bigint        NOT NULL,
    sales_date date          NOT NULL,
    size       text,
    product    text          NOT NULL,
    branch     text          NOT NULL,
    quantity   integer       NOT NULL,
    revenue    numeric(18,2) NOT NULL
);
CREATE INDEX transaction_item_sums_date_brin ON staging.transaction_item_sums USING brin (sales_date);

CREATE TABLE staging.legacy_transaction_item_sums (LIKE staging.transaction_item_sums INCLUDING ALL);

-- The files loaded before: their sums from their item rows, as the loader
-- makes them (every item of every row it loaded, repeated rows too).
INSERT INTO staging.transaction_item_sums
SELECT load_id, sales_date, size, product, branch, count(*), sum(price)
FROM staging.transaction_items
GROUP BY load_id, sales_date, size, product, branch;
INSERT INTO staging.legacy_transaction_item_sums
SELECT load_id, sales_date, size, product, branch, count(*), sum(price)
FROM staging.legacy_transaction_items
GROUP BY load_id, sales_date, size, product, branch;

-- +goose Down
DROP TABLE staging.legacy_transaction_item_sums;
DROP TABLE staging.transaction_item_sums;

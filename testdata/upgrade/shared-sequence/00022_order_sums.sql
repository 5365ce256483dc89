-- +goose Up
-- Each file's orders counted and summed by day, local hour, branch and
-- payment method (pipelines.yaml: sums). core.order_sums sums these, one
-- row per file and hour and payment, instead of every order: on a year of
-- ten branches, 69 thousand rows instead of 1.09 million. repeats counts
-- the orders the loader marked repeated in their file (or could not tell),
-- so that core.repeated_orders reads the orders of those branch-days only.
CREATE TABLE staging.transaction_sums (
    load_id        bigint        NOT NULL,
    sales_date     date          NOT NULL,
    hour           integer       NOT NULL,
    branch         text          NOT NULL,
    payment_method text          NOT NULL,
    orders         integer       NOT NULL,
    total          numeric(18,2) NOT NULL,
    item_count     integer       NOT NULL,
    repeats        integer       NOT NULL
) WITH (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);
CREATE INDEX transaction_sums_date_brin ON staging.transaction_sums USING brin (sales_date);

CREATE TABLE staging.legacy_transaction_sums (LIKE staging.transaction_sums INCLUDING ALL)
    WITH (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);

-- The files loaded before: their sums from their order rows, as the loader
-- makes them (every row it loaded, repeated rows too).
INSERT INTO staging.transaction_sums
SELECT load_id, sales_date, extract(hour FROM ordered_local)::integer, branch, payment_method,
       count(*), sum(total), sum(item_count), count(*) FILTER (WHERE repeated IS NOT FALSE)
FROM staging.transactions
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO staging.legacy_transaction_sums
SELECT load_id, sales_date, extract(hour FROM ordered_local)::integer, branch, payment_method,
       count(*), sum(total), sum(item_count), count(*) FILTER (WHERE repeated IS NOT FALSE)
FROM staging.legacy_transactions
GROUP BY 1, 2, 3, 4, 5;

-- +goose Down
DROP TABLE staging.legacy_transaction_sums;
DROP TABLE staging.transaction_sums;

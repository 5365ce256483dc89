-- materialized: incremental
-- time_column: sales_date
-- distribution: reference
-- description: Which products were sold on which day, by size: one row per product, size and day.
-- tags: core
-- check: unique(sales_date, product_id)
--
-- Why it is built so: it is small (products × days), so core.products
-- reads it cheaply. It is read from the files' item sums, beside the
-- product mart rather than after it: a product in a repeated delivery was
-- sold in its first delivery too, on the same day, so the sums name the
-- same products and days as the mart.
WITH sold AS MATERIALIZED (
    -- The distinct days of each product, gathered as one array per branch and
    -- product: a distributed engine groups each shard's rows by branch, the
    -- column the sources are sharded by, and sends a few hundred arrays where
    -- a DISTINCT of (day, size, product) sent every shard's products of every
    -- day (on Citus, 8 shards, the year: 107,310 rows to the coordinator).
    -- MATERIALIZED keeps the grouping where the rows are, and the unnesting
    -- after the gather. product_id is hashed once per product and day (the
    -- year: 0.31 s where hashing the files' 178,849 sums took 1.08 s). The
    -- year's SELECT, warm, by turns: on Citus 118–131 ms where the DISTINCT
    -- took 211–345 ms; on one server 109–123 ms where it took 71–107 ms.
    SELECT branch, size, product, array_agg(sales_date) AS days
    FROM (
        SELECT branch, sales_date, size, product
        FROM staging.transaction_item_sums
        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
        UNION ALL
        SELECT branch, sales_date, size, product
        FROM staging.legacy_transaction_item_sums
        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    ) AS sums
    GROUP BY branch, size, product
)
SELECT sales_date,
       core.product_id(size, product) AS product_id,
       size,
       product
FROM (SELECT DISTINCT unnest(days) AS sales_date, size, product FROM sold) AS sold_days

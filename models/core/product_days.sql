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
SELECT DISTINCT
       sales_date,
       core.product_id(size, product) AS product_id,
       size,
       product
FROM (
    SELECT sales_date, size, product
    FROM staging.transaction_item_sums
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT sales_date, size, product
    FROM staging.legacy_transaction_item_sums
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
) AS sold

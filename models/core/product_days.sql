-- materialized: incremental
-- time_column: sales_date
-- description: Which products were sold on which day, by size. Small (products × days), so core.products reads it cheaply.
-- tags: core
-- check: unique(sales_date, product_id)
SELECT DISTINCT
       sales_date,
       md5(coalesce(size, '') || '|' || product) AS product_id,
       size,
       product
FROM (
    SELECT sales_date, size, product FROM staging.transaction_items
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT sales_date, size, product FROM staging.legacy_transaction_items
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
) AS sold

-- materialized: incremental
-- time_column: sales_date
-- distribution: reference
-- description: Which products were sold on which day, by size. Small (products × days), so core.products reads it cheaply; read from the product mart, which has already summed the items.
-- tags: core
-- check: unique(sales_date, product_id)
SELECT DISTINCT
       sales_date,
       md5(coalesce(size, '') || '|' || product) AS product_id,
       size,
       product
FROM marts.product_daily_sales
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()

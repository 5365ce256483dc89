-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Sales per branch, day and product by size: quantity sold and revenue (sum of item prices). Summed from core.order_items, whose orders are each counted once however often they were delivered.
-- tags: marts
-- check: unique(branch, sales_date, product, size)
SELECT branch,
       sales_date,
       product,
       size,
       count(*)::integer AS quantity,
       sum(price) AS revenue
FROM core.order_items
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
GROUP BY branch, sales_date, product, size

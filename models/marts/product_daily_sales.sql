-- materialized: incremental
-- time_column: sales_date
-- description: Sales per branch, day and product by size: quantity sold and revenue (sum of item prices).
-- tags: marts
-- check: unique(branch, sales_date, product, size)
SELECT i.branch,
       i.sales_date,
       p.product,
       p.size,
       count(*)::integer AS quantity,
       sum(i.price) AS revenue
FROM core.order_items AS i
JOIN core.product_days AS p USING (sales_date, product_id)
WHERE i.sales_date >= percolate.interval_start() AND i.sales_date < percolate.interval_end()
GROUP BY i.branch, i.sales_date, p.product, p.size

-- materialized: table
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
JOIN core.products AS p USING (product_id)
GROUP BY i.branch, i.sales_date, p.product, p.size

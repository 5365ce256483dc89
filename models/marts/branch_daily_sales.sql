-- materialized: incremental
-- time_column: sales_date
-- description: Sales per branch and day: orders, basket items, revenue (sum of order totals) split by payment method, and average order value.
-- tags: marts
-- check: unique(branch, sales_date)
-- check: row_count(min: 1)
SELECT o.branch,
       o.sales_date,
       count(*)::integer AS orders,
       sum(i.items)::integer AS items,
       sum(o.total) AS revenue,
       coalesce(sum(o.total) FILTER (WHERE o.payment_method = 'CASH'), 0) AS cash_revenue,
       coalesce(sum(o.total) FILTER (WHERE o.payment_method = 'CARD'), 0) AS card_revenue,
       round(avg(o.total), 2) AS avg_order_value
FROM core.orders AS o
JOIN (
    SELECT order_id, count(*) AS items
    FROM core.order_items
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    GROUP BY order_id
) AS i USING (order_id)
WHERE o.sales_date >= percolate.interval_start() AND o.sales_date < percolate.interval_end()
GROUP BY o.branch, o.sales_date

-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Sales per branch and day: orders, basket items, revenue (sum of order totals) split by payment method, and average order value (rounded half up to the penny). Summed from core.order_sums.
-- tags: marts
-- column orders: orders on the day, each counted once however often it was delivered
-- column items: basket items of those orders
-- column revenue: sum of the order totals, in pounds
-- column cash_revenue: revenue paid in cash
-- column card_revenue: revenue paid by card
-- column avg_order_value: revenue / orders, rounded half up to the penny
-- check: unique(branch, sales_date)
-- check: row_count(min: 1)
SELECT branch,
       sales_date,
       sum(orders)::integer AS orders,
       sum(items)::integer AS items,
       sum(revenue) AS revenue,
       coalesce(sum(revenue) FILTER (WHERE payment_method = 'CASH'), 0) AS cash_revenue,
       coalesce(sum(revenue) FILTER (WHERE payment_method = 'CARD'), 0) AS card_revenue,
       round(sum(revenue) / sum(orders), 2) AS avg_order_value
FROM core.order_sums
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
GROUP BY branch, sales_date

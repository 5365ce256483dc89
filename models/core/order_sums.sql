-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Orders counted and summed per branch, day, local hour (0-23) and payment method: what the branch and hourly marts sum, read from core.orders once for both.
-- tags: core
-- column hour: the hour of the day in the branch's local time
-- column orders: orders, each counted once however often it was delivered
-- column items: basket items of those orders
-- column revenue: sum of their totals, in pounds
-- check: unique(branch, sales_date, hour, payment_method)
SELECT branch,
       sales_date,
       extract(hour FROM ordered_local)::integer AS hour,
       payment_method,
       count(*)::integer AS orders,
       sum(items)::integer AS items,
       sum(total) AS revenue
FROM core.orders
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
GROUP BY branch, sales_date, extract(hour FROM ordered_local)::integer, payment_method

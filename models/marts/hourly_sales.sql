-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Orders and revenue per branch, day and hour of the day in the branch's local time (0-23). Summed from core.order_sums.
-- tags: marts
-- check: unique(branch, sales_date, hour)
SELECT branch,
       sales_date,
       hour,
       sum(orders)::integer AS orders,
       sum(revenue) AS revenue
FROM core.order_sums
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
GROUP BY branch, sales_date, hour

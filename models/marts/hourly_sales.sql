-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Orders and revenue per branch, day and hour of the day in the branch's local time (0-23).
-- tags: marts
-- check: unique(branch, sales_date, hour)
SELECT branch,
       sales_date,
       extract(hour FROM ordered_local)::integer AS hour,
       count(*)::integer AS orders,
       sum(total) AS revenue
FROM core.orders
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
GROUP BY branch, sales_date, extract(hour FROM ordered_local)

-- materialized: table
-- description: Orders and revenue per branch, day and hour of the day in the branch's local time (0-23).
-- tags: marts
-- check: unique(branch, sales_date, hour)
SELECT branch,
       sales_date,
       extract(hour FROM ordered_local)::integer AS hour,
       count(*)::integer AS orders,
       sum(total) AS revenue
FROM core.orders
GROUP BY branch, sales_date, extract(hour FROM ordered_local)

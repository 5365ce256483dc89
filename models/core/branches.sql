-- materialized: table
-- key: branch
-- distribution: reference
-- description: Every branch that has traded, with the first and last day it has data for. Keyed by branch.
-- tags: core
-- check: unique(branch)
SELECT branch,
       min(sales_date) AS first_sales_date,
       max(sales_date) AS last_sales_date
FROM marts.branch_daily_sales
GROUP BY branch

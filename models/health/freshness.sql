-- materialized: view
-- description: Pipeline health: per branch, the last day with sales and how many days ago that was.
-- tags: health
SELECT branch,
       max(sales_date) AS last_sales_date,
       current_date - max(sales_date) AS days_behind
FROM marts.branch_daily_sales
GROUP BY branch

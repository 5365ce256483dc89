-- materialized: view
-- description: Pipeline health: per branch and day, whether its file arrived (the day has sales) or is missing (as the latest delivery check found, see percolate check-sources). The Pipeline-health dashboard shows it as a branch × day grid.
-- tags: health
SELECT branch,
       sales_date AS day,
       'arrived' AS status
FROM marts.branch_daily_sales
UNION ALL
SELECT branch,
       day,
       'missing' AS status
FROM health.expectations
WHERE kind = 'missing'

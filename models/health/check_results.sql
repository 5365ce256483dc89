-- materialized: view
-- description: Pipeline health: every check run and how many rows failed it.
-- tags: health
SELECT run_id,
       model,
       check_name,
       severity,
       failures,
       checked_at
FROM percolate.check_results

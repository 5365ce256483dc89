-- materialized: view
-- description: Pipeline health: every check of the sources' deliveries (after a run, or percolate check-sources), the day it took for today and how many findings it had; health.expectations lists the latest one's.
-- tags: health
SELECT c.check_id,
       c.run_id,
       c.as_of,
       c.checked_at,
       count(e.kind) AS findings,
       count(e.kind) FILTER (WHERE e.severity = 'error') AS errors
FROM percolate.source_checks AS c
LEFT JOIN percolate.expectations AS e USING (check_id)
GROUP BY c.check_id

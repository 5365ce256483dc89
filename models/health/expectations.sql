-- materialized: view
-- description: Pipeline health: what the latest check of the sources' deliveries found (after a run, or percolate check-sources): branch-days with no file, branches whose newest day is old, days of unusual volume.
-- tags: health
SELECT c.checked_at,
       c.as_of,
       e.source,
       e.kind,
       e.group_value AS branch,
       e.day,
       e.severity,
       e.detail
FROM percolate.expectations AS e
JOIN percolate.source_checks AS c USING (check_id)
WHERE e.check_id = (SELECT max(check_id) FROM percolate.source_checks)

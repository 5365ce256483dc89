-- materialized: view
-- description: Pipeline health: per pipeline, when a run last succeeded, how long it may go without one (pipelines.yaml: success_within, default 26h) and by how many hours it is overdue (negative: not yet). No row: no pipeline has ever run or been checked.
-- tags: health
WITH pipelines AS (
    SELECT pipeline FROM percolate.runs
    UNION
    SELECT pipeline FROM percolate.pipelines
),
due AS (
    SELECT p.pipeline,
           (SELECT max(r.finished_at) FROM percolate.runs AS r WHERE r.pipeline = p.pipeline AND r.status = 'ok') AS last_success_at,
           -- Never a success: overdue from the first run (or declaration) on.
           coalesce((SELECT min(r.started_at) FROM percolate.runs AS r WHERE r.pipeline = p.pipeline), d.declared_at) AS first_seen_at,
           coalesce(d.success_within, interval '26 hours') AS success_within
    FROM pipelines AS p
    LEFT JOIN percolate.pipelines AS d USING (pipeline)
)
SELECT pipeline,
       last_success_at,
       round(extract(epoch FROM success_within) / 3600, 1) AS success_within_hours,
       round(extract(epoch FROM now() - coalesce(last_success_at, first_seen_at) - success_within) / 3600, 1) AS hours_overdue
FROM due

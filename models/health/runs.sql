-- materialized: view
-- description: Pipeline health: every run, how long it took, what it loaded and built, and how it ended.
-- tags: health
SELECT run_id,
       pipeline,
       command,
       started_at,
       finished_at,
       extract(epoch FROM finished_at - started_at)::numeric(12, 3) AS duration_seconds,
       status,
       files_loaded,
       files_skipped,
       rows_loaded,
       rows_rejected,
       models_built,
       error
FROM percolate.runs

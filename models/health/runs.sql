-- materialized: view
-- description: Pipeline health: every run, how long it took, what it loaded and built, and how it ended: ok, failed, interrupted (Ctrl-C or SIGTERM: not a failure) or abandoned (killed, closed by the next run); alerting is true for the runs the "A run failed" alert fires on.
-- tags: health
SELECT run_id,
       pipeline,
       command,
       started_at,
       finished_at,
       -- A killed run's end is when the next run closed it, not when it stopped.
       CASE WHEN status <> 'abandoned' THEN extract(epoch FROM finished_at - started_at)::numeric(12, 3) END AS duration_seconds,
       status,
       files_loaded,
       files_skipped,
       rows_loaded,
       rows_rejected,
       models_built,
       error,
       status IN ('failed', 'abandoned') AS alerting
FROM percolate.runs

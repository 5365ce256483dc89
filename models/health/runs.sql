-- materialized: view
-- description: Pipeline health: every run, how long it took, what it loaded and built, and how it ended: ok, failed, interrupted (Ctrl-C or SIGTERM: not a failure) or abandoned (killed, closed by the next run); alerting is true for the runs the "A run failed" alert fires on, from closed_at, when their end was recorded.
-- tags: health
SELECT run_id,
       pipeline,
       command,
       started_at,
       finished_at,
       -- A killed run's finished_at is its last committed work, not its end.
       CASE WHEN status <> 'abandoned' THEN extract(epoch FROM finished_at - started_at)::numeric(12, 3) END AS duration_seconds,
       status,
       files_loaded,
       files_skipped,
       rows_loaded,
       rows_rejected,
       models_built,
       error,
       status IN ('failed', 'abandoned') AS alerting,
       -- An abandoned run is closed by the next run, maybe days after it
       -- stopped: its alert is due then.
       CASE WHEN status = 'abandoned'
            THEN coalesce((SELECT min(n.started_at) FROM percolate.runs AS n WHERE n.run_id > r.run_id), finished_at)
            ELSE finished_at
       END AS closed_at
FROM percolate.runs AS r

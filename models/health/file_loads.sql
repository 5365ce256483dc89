-- materialized: view
-- description: Pipeline health: every file read, with its rows and rejects, and why it was refused (status refused). Paths only, never contents.
-- tags: health
SELECT load_id,
       source,
       path,
       loaded_at,
       rows_loaded,
       rows_rejected,
       status,
       reason
FROM percolate.files

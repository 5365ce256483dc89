-- materialized: view
-- description: Pipeline health: every file loaded, with its rows and rejects. Paths only, never contents.
-- tags: health
SELECT load_id,
       source,
       path,
       loaded_at,
       rows_loaded,
       rows_rejected,
       status
FROM percolate.files

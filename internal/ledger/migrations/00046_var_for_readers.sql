-- +goose Up
-- percolate.var runs as its owner, the ledger's, not as its caller: the
-- functions a view calls run with its reader's privileges, and a
-- dashboard's role, which may not use the schema percolate, would be
-- refused the vars when reading a view that names one. Definer rather than
-- a grant: the reader gets a var's value by its name and nothing else of
-- the ledger (not even the schema's use). search_path is fixed, so no
-- caller's objects can stand in for the ones it reads; only the roles
-- that read models may call it.
ALTER FUNCTION percolate.var(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION percolate.var(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION percolate.var(text) TO percolate_models, percolate_grafana;

-- +goose Down
GRANT EXECUTE ON FUNCTION percolate.var(text) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION percolate.var(text) FROM percolate_models, percolate_grafana;
ALTER FUNCTION percolate.var(text) SECURITY INVOKER RESET search_path;

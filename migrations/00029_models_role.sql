-- +goose Up
-- Models run as percolate_models (made by percolate's ledger), which owns
-- what builds make: the relations earlier runs made in the schemas models
-- own become its own.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
    citus bool := EXISTS (SELECT FROM pg_extension WHERE extname = 'citus');
    shard bool;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('core', 'marts', 'health') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    LOOP
        -- A shard on the coordinator follows its table.
        IF citus THEN
            EXECUTE 'SELECT pg_catalog.relation_is_a_known_shard($1)' INTO shard USING r.rel;
            CONTINUE WHEN shard;
        END IF;
        EXECUTE format('ALTER %s %s OWNER TO percolate_models',
                       CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.rel);
    END LOOP;
END
$$;
-- +goose StatementEnd
-- The reader's grant follows the relations runs make, now as percolate_models.
ALTER DEFAULT PRIVILEGES FOR ROLE percolate_models IN SCHEMA marts GRANT SELECT ON TABLES TO percolate_grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE percolate_models IN SCHEMA health GRANT SELECT ON TABLES TO percolate_grafana;

-- +goose Down
ALTER DEFAULT PRIVILEGES FOR ROLE percolate_models IN SCHEMA health REVOKE SELECT ON TABLES FROM percolate_grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE percolate_models IN SCHEMA marts REVOKE SELECT ON TABLES FROM percolate_grafana;
-- +goose StatementBegin
DO $$
DECLARE
    r record;
    citus bool := EXISTS (SELECT FROM pg_extension WHERE extname = 'citus');
    shard bool;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('core', 'marts', 'health') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND pg_get_userbyid(c.relowner) = 'percolate_models'
    LOOP
        IF citus THEN
            EXECUTE 'SELECT pg_catalog.relation_is_a_known_shard($1)' INTO shard USING r.rel;
            CONTINUE WHEN shard;
        END IF;
        EXECUTE format('ALTER %s %s OWNER TO %I',
                       CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.rel, current_user);
    END LOOP;
END
$$;
-- +goose StatementEnd

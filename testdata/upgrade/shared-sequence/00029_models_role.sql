-- +goose Up
-- Models, checks and unit tests run as percolate_models (SET LOCAL ROLE in
-- every build transaction), not as the role percolate connects as, which on
-- the embedded cluster is a superuser: a model reads the sources and writes
-- only the schemas models own. It cannot write the ledger or staging, read
-- server files, or create roles, databases or extensions. docs/security.md
-- says what to grant where percolate cannot make the role itself.
-- +goose StatementBegin
DO $$
DECLARE
    me text := current_user;
    pw text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'percolate_models') THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = me AND (rolsuper OR rolcreaterole)) THEN
            -- The message says it all: not every client prints a hint.
            RAISE EXCEPTION 'the role percolate_models is missing and % may not create roles: as an administrator run CREATE ROLE percolate_models NOLOGIN; GRANT percolate_models TO %; (docs/security.md)',
                me, quote_ident(me);
        END IF;
        CREATE ROLE percolate_models NOLOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'percolate_models'
               AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication))
       OR pg_has_role('percolate_models', 'pg_read_server_files', 'MEMBER')
       OR pg_has_role('percolate_models', 'pg_write_server_files', 'MEMBER')
       OR pg_has_role('percolate_models', 'pg_execute_server_program', 'MEMBER') THEN
        RAISE EXCEPTION 'the role percolate_models has powers models must not have: it must be NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS NOREPLICATION and in none of pg_read_server_files, pg_write_server_files, pg_execute_server_program (docs/security.md)';
    END IF;
    -- Builds SET ROLE to it, which takes membership.
    IF NOT pg_has_role(me, 'percolate_models', 'MEMBER') THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = me AND rolcreaterole)
           AND NOT pg_has_role(me, 'percolate_models', 'MEMBER WITH ADMIN OPTION') THEN
            RAISE EXCEPTION '% is not a member of the role percolate_models and may not make itself one: as an administrator run GRANT percolate_models TO %; (docs/security.md)',
                me, quote_ident(me);
        END IF;
        EXECUTE format('GRANT percolate_models TO %I', me);
    END IF;
    -- On Citus the coordinator connects to the workers as the current
    -- role: percolate_models logs in there, with a password nobody is told
    -- but Citus (pg_dist_authinfo, which only a superuser reads). Made here,
    -- never sent: no statement log holds it. Citus sets it on every node.
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        pw := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''); -- strong random
        EXECUTE format('ALTER ROLE percolate_models LOGIN PASSWORD %L', pw);
        EXECUTE 'INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, $1, $2)
                 ON CONFLICT (nodeid, rolename) DO UPDATE SET authinfo = excluded.authinfo'
            USING 'percolate_models', format('password=%s', pw);
    END IF;
    -- Unit tests stand models in with temporary tables; diffs count rows
    -- in one. Nobody else gets them (00007 took TEMPORARY from PUBLIC).
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO percolate_models', current_database());
END
$$;
-- +goose StatementEnd

-- Sources: staging, and the ledger tables the health models read (never
-- settings: it holds the hash key's fingerprint). The interval functions
-- are in percolate too.
GRANT USAGE ON SCHEMA staging, percolate TO percolate_models;
GRANT SELECT ON ALL TABLES IN SCHEMA staging TO percolate_models;
GRANT SELECT ON percolate.runs, percolate.files, percolate.check_results,
    percolate.expectations, percolate.source_checks, percolate.pipelines TO percolate_models;
-- Staging tables made by later migrations are sources too.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA staging GRANT SELECT ON TABLES TO percolate_models', current_user);
END
$$;
-- +goose StatementEnd

-- The schemas models own: a build makes, renames and drops its relations
-- there, so it owns them, the ones earlier runs made as well.
GRANT USAGE, CREATE ON SCHEMA core, marts, health TO percolate_models;
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
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA staging REVOKE SELECT ON TABLES FROM percolate_models', current_user);
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM percolate_models', current_database());
END
$$;
-- +goose StatementEnd
REVOKE ALL ON SCHEMA core, marts, health FROM percolate_models;
REVOKE SELECT ON percolate.runs, percolate.files, percolate.check_results,
    percolate.expectations, percolate.source_checks, percolate.pipelines FROM percolate_models;
REVOKE SELECT ON ALL TABLES IN SCHEMA staging FROM percolate_models;
REVOKE USAGE ON SCHEMA staging, percolate FROM percolate_models;
-- The role stays: roles belong to the cluster, and other databases may use it.

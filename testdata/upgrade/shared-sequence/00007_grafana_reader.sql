-- +goose Up
-- The role Grafana reads as: SELECT on the marts and the pipeline-health
-- views, nothing else. Roles belong to the whole cluster, so it is made only
-- if missing. It has no password here: percolate sets it from
-- $PERCOLATE_GRAFANA_PASSWORD, which is never committed.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'percolate_grafana') THEN
        CREATE ROLE percolate_grafana LOGIN NOINHERIT;
    END IF;
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO percolate_grafana', current_database());
END
$$;
-- +goose StatementEnd
CREATE SCHEMA IF NOT EXISTS health;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA marts, health TO percolate_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA marts, health TO percolate_grafana;
-- Runs recreate marts and views; the grant follows them.
ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO percolate_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA health GRANT SELECT ON TABLES TO percolate_grafana;

-- +goose Down
ALTER DEFAULT PRIVILEGES IN SCHEMA health REVOKE SELECT ON TABLES FROM percolate_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA marts REVOKE SELECT ON TABLES FROM percolate_grafana;
REVOKE ALL ON ALL TABLES IN SCHEMA marts, health FROM percolate_grafana;
REVOKE USAGE ON SCHEMA marts, health FROM percolate_grafana;
DROP SCHEMA IF EXISTS health CASCADE;
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM percolate_grafana', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$$;
-- +goose StatementEnd

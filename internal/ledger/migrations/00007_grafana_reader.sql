-- +goose Up
-- The role Grafana reads as. Roles belong to the whole cluster, so it is
-- made only if missing. It has no password here: percolate sets it from
-- $PERCOLATE_GRAFANA_PASSWORD, which is never committed. What it may read
-- is the project's to grant (its migrations name the schemas).
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
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM percolate_grafana', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$$;
-- +goose StatementEnd

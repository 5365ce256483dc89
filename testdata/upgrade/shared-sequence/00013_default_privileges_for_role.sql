-- +goose Up
-- Default privileges belong to the role that creates the tables: runs
-- recreate the marts and the health views as the role percolate connects
-- as, which is the role that applies the migrations. Say so by name, so
-- that the grant does not depend on who ran 00007, and so that a server
-- where an administrator applies migrations as another role shows which
-- role the grant follows (pg_default_acl.defaclrole).
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA marts GRANT SELECT ON TABLES TO percolate_grafana', current_user);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA health GRANT SELECT ON TABLES TO percolate_grafana', current_user);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Nothing to undo: 00007 granted the same to the role that applied it,
-- and revoking here would take that grant away too.

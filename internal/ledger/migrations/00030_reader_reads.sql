-- +goose Up
-- The reader role reads, and writes nothing. What PUBLIC may do by default
-- that writes: create large objects (lo_creat, lo_create, lo_from_bytea are
-- executable by PUBLIC; writing a large object one does not own takes a
-- privilege on it, so creating is the door), create temporary tables and,
-- before PostgreSQL 15, create in schema public. Advisory locks cannot be
-- revoked: the run lock is a table lock instead (internal/pg Lock).
-- Nothing percolate runs uses large objects, so no role gets them back.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM percolate_grafana', current_database());
    -- The functions belong to the bootstrap superuser: only a superuser
    -- may revoke them. Elsewhere an administrator does (docs/security.md).
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        REVOKE EXECUTE ON FUNCTION pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid),
            pg_catalog.lo_from_bytea(oid, bytea) FROM PUBLIC;
    ELSIF has_function_privilege('percolate_grafana', 'pg_catalog.lo_from_bytea(oid, bytea)', 'EXECUTE') THEN
        RAISE WARNING 'percolate_grafana may create large objects'
            USING HINT = 'as a superuser run: REVOKE EXECUTE ON FUNCTION pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid), pg_catalog.lo_from_bytea(oid, bytea) FROM PUBLIC; (docs/security.md)';
    END IF;
END
$$;
-- +goose StatementEnd
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        GRANT EXECUTE ON FUNCTION pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid),
            pg_catalog.lo_from_bytea(oid, bytea) TO PUBLIC;
    END IF;
END
$$;
-- +goose StatementEnd
-- TEMPORARY and CREATE on public stay revoked: 00007 revoked them first.

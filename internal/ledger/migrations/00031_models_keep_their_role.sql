-- +goose Up
-- Builds switch to percolate_models with SET LOCAL ROLE, and PostgreSQL
-- lets a session switch back to any role its login may use: a model calling
-- set_config('role', 'none', true) would run what follows as the role
-- percolate connects as. Builds set what they need with SET LOCAL, so
-- nobody but a superuser needs set_config here (pg_dump calls it: a
-- superuser's pg_dump still works). The function belongs to the bootstrap
-- superuser: elsewhere an administrator revokes it (docs/security.md).
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
    ELSIF has_function_privilege('percolate_models', 'pg_catalog.set_config(text, text, boolean)', 'EXECUTE') THEN
        RAISE WARNING 'percolate_models may call set_config, and with it leave its role'
            USING HINT = 'as a superuser run: REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC; GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO <the roles that need it, not percolate_models>; (docs/security.md)';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO PUBLIC;
    END IF;
END
$$;
-- +goose StatementEnd

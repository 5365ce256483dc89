package migrate

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
)

// EnsureSchemas makes the schemas missing, and gives the models' role
// what it needs on each: to read the sources' tables (those made later
// too), and to make, rename and drop relations where models are built.
// A grant is asked only when the role lacks it, so a warehouse an
// administrator set up needs no ownership of the schemas.
func EnsureSchemas(ctx context.Context, pool *pgxpool.Pool, sources, models []string) error {
	for _, s := range append(slices.Clone(sources), models...) {
		if err := pg.EnsureSchema(ctx, pool, s); err != nil {
			return err
		}
	}
	var me string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&me); err != nil {
		return fmt.Errorf("grant the models' role its schemas: %w", err)
	}
	for _, s := range sources {
		stmts := []string{
			"GRANT USAGE ON SCHEMA %[1]s TO %[2]s",
			// The role applying the project's migrations makes the tables.
			"ALTER DEFAULT PRIVILEGES FOR ROLE " + pg.Ident(me) + " IN SCHEMA %[1]s GRANT SELECT ON TABLES TO %[2]s",
		}
		if err := grantOnce(ctx, pool, s, "USAGE", stmts); err != nil {
			return fmt.Errorf("grant the models' role usage of schema %s: %w", s, err)
		}
	}
	for _, s := range models {
		if err := grantOnce(ctx, pool, s, "USAGE, CREATE", []string{"GRANT USAGE, CREATE ON SCHEMA %[1]s TO %[2]s"}); err != nil {
			return fmt.Errorf("grant the models' role schema %s: %w", s, err)
		}
	}
	return nil
}

// grantOnce runs stmts on schema s unless the models' role has privs on
// it already.
func grantOnce(ctx context.Context, pool *pgxpool.Pool, s, privs string, stmts []string) error {
	var has bool
	q := "SELECT bool_and(has_schema_privilege($1, $2, p)) FROM unnest(string_to_array($3, ', ')) AS p"
	if err := pool.QueryRow(ctx, q, pg.ModelsRole, s, privs).Scan(&has); err != nil || has {
		return err
	}
	for _, st := range stmts {
		if _, err := pool.Exec(ctx, fmt.Sprintf(st, pg.Ident(s), pg.ModelsRole)); err != nil {
			return fmt.Errorf("grant %s %s on schema %s: %w", pg.ModelsRole, privs, s, pg.Explain(err))
		}
	}
	return nil
}

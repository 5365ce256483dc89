package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestRolesTouchOnlyWhatIsTheirs: after a run, the models' role and the
// reader's role are each refused every write and every read that is not
// theirs, and allowed what is; a run started while the reader holds
// advisory locks on any key (the old run lock's among them) is not stopped;
// a model reading a server file fails the run, naming the model, and
// publishes nothing.
func TestRolesTouchOnlyWhatIsTheirs(t *testing.T) {
	url := pgtest.URL(t)
	t.Setenv(EnvReaderPassword, "reader secret")
	mustRun(t, root, url, "run")
	admin := connect(t, url)
	t.Run("models", func(t *testing.T) { testModelsRole(t, admin) })
	ctx := context.Background()
	reader, err := pgx.Connect(ctx, asReader(url, "reader secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	t.Run("reader", func(t *testing.T) { testReaderRole(t, reader) })

	// fnv-64a of "percolate:run": the key the run lock had.
	if _, err := reader.Exec(ctx, "SELECT pg_advisory_lock(-5601468054644626083), pg_advisory_lock(k) FROM generate_series(-100, 100) AS k"); err != nil {
		t.Fatal(err)
	}
	if r := percolate(t, root, url, "run"); r.code != ExitOK {
		t.Errorf("a run while the reader holds advisory locks: exit %d, want 0\n%s", r.code, r.stderr)
	}
	if _, err := reader.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}

	dir := tempProject(t)
	// A table: a view's functions run with its reader's privileges, and
	// the reader has none of these (a view runs nothing when it is made).
	model := "-- materialized: table\nSELECT pg_read_file('postgresql.conf') AS conf\n"
	if err := os.WriteFile(filepath.Join(dir, "models", "marts", "server_file.sql"), []byte(model), 0o644); err != nil {
		t.Fatal(err)
	}
	r := percolate(t, dir, url, "run")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "permission denied") || !strings.Contains(r.stderr, "server_file") {
		t.Errorf("a model reading a server file: got exit %d, stderr %q; want exit 1, permission denied, naming the model", r.code, r.stderr)
	}
	if n := scalar[int](t, admin, `SELECT count(*)::int FROM pg_class WHERE relname LIKE 'server_file%'`); n != 0 {
		t.Errorf("relations of the model reading a server file: got %d, want 0", n)
	}
}

// asReader is url with the reader role's user and password.
func asReader(url, password string) string {
	user := strings.SplitN(strings.TrimPrefix(url, "postgres://"), "@", 2)[0]
	return strings.Replace(url, user, "percolate_grafana:"+strings.ReplaceAll(password, " ", "%20"), 1)
}

// testModelsRole tries each statement in a transaction as the models'
// role, as a build runs them.
func testModelsRole(t *testing.T, admin interface {
	Begin(context.Context) (pgx.Tx, error)
}) {
	ctx := context.Background()
	for _, c := range []struct {
		sql     string
		allowed bool
	}{
		{"SELECT count(*) FROM staging.transactions", true},
		{"SELECT count(*) FROM percolate.files JOIN percolate.runs USING (run_id)", true},
		{"SELECT percolate.interval_start()", true},
		{"CREATE TABLE marts.roles_test AS SELECT 1 AS a", true},
		{"CREATE TABLE core.roles_test AS SELECT 1 AS a", true},
		{"CREATE TEMP TABLE roles_test AS SELECT 1 AS a", true},
		{"ALTER TABLE marts.branch_daily_sales RENAME TO roles_test", true},
		{"CREATE TABLE percolate.roles_test (a int)", false},
		{"DELETE FROM percolate.files", false},
		{"UPDATE percolate.settings SET value = value", false},
		{"SELECT count(*) FROM percolate.settings", false},
		{"LOCK TABLE percolate.run_lock IN EXCLUSIVE MODE NOWAIT", false},
		{"CREATE TABLE staging.roles_test (a int)", false},
		{"DELETE FROM staging.transactions", false},
		{"DROP TABLE staging.transactions", false},
		{"ALTER TABLE staging.transactions RENAME TO roles_test", false},
		{"CREATE TABLE public.roles_test (a int)", false},
		{"CREATE SCHEMA roles_test", false},
		{"SELECT pg_read_file('postgresql.conf')", false},
		{"SELECT pg_ls_dir('.')", false},
		{"COPY (SELECT 1) TO '/tmp/percolate_roles_test'", false},
		{"CREATE ROLE roles_test", false},
		{"CREATE EXTENSION IF NOT EXISTS pg_stat_statements", false},
		{"SELECT lo_from_bytea(0, 'x')", false},
		{"SELECT set_config('role', 'none', true)", false},
		{"SELECT set_config('session_authorization', current_user, true)", false},
	} {
		t.Run(c.sql, func(t *testing.T) {
			tx, err := admin.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if err := pg.AsModels(ctx, tx); err != nil {
				t.Fatal(err)
			}
			_, err = tx.Exec(ctx, c.sql)
			checkRefusal(t, err, c.allowed)
		})
	}
}

// testReaderRole tries each statement as the reader, each rolled back.
func testReaderRole(t *testing.T, reader *pgx.Conn) {
	ctx := context.Background()
	for _, c := range []struct {
		sql     string
		allowed bool
	}{
		{"SELECT count(*) FROM marts.branch_daily_sales HAVING count(*) > 0", true},
		{"SELECT count(*) FROM health.runs HAVING count(*) > 0", true},
		{"SELECT count(*) FROM staging.transactions", false},
		{"SELECT count(*) FROM core.orders", false},
		{"SELECT count(*) FROM percolate.files", false},
		{"LOCK TABLE percolate.run_lock IN EXCLUSIVE MODE NOWAIT", false},
		{"SELECT lo_from_bytea(0, 'x')", false},
		{"SELECT lo_create(0)", false},
		{"SELECT lo_creat(-1)", false},
		{"CREATE TEMP TABLE roles_test (a int)", false},
		{"CREATE TABLE public.roles_test (a int)", false},
		{"CREATE TABLE marts.roles_test (a int)", false},
		{"CREATE SCHEMA roles_test", false},
		{"DELETE FROM marts.branch_daily_sales", false},
	} {
		t.Run(c.sql, func(t *testing.T) {
			tx, err := reader.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			var n int64
			err = tx.QueryRow(ctx, c.sql).Scan(&n)
			if errors.Is(err, pgx.ErrNoRows) {
				t.Fatalf("%s: no row; want rows", c.sql)
			}
			if err != nil && strings.Contains(err.Error(), "cannot scan") {
				err = nil // what it returns is not a number, but it ran
			}
			checkRefusal(t, err, c.allowed)
		})
	}
}

func checkRefusal(t *testing.T, err error, allowed bool) {
	t.Helper()
	var pgErr *pgconn.PgError
	switch {
	case allowed && err != nil:
		t.Errorf("got %v, want it allowed", err)
	case !allowed && (!errors.As(err, &pgErr) || pgErr.Code != "42501"):
		t.Errorf("got %v, want permission denied [SQLSTATE 42501]", err)
	}
}

// TestWithoutCreateRole: against a server where the role percolate
// connects as owns the database but may not make roles, migrations stop
// saying what to grant; once granted, a run works, its marts owned by the
// models' role.
func TestWithoutCreateRole(t *testing.T) {
	url := pgtest.URL(t)
	admin := connect(t, url)
	ctx := context.Background()
	db := scalar[string](t, admin, "SELECT current_database()")
	role := fmt.Sprintf("loader_%d", os.Getpid())
	for _, sql := range []string{
		// What an administrator makes first (docs/security.md), when no
		// earlier test has.
		"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'percolate_models') THEN CREATE ROLE percolate_models NOLOGIN; END IF; END $$",
		"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'percolate_grafana') THEN CREATE ROLE percolate_grafana LOGIN NOINHERIT; END IF; END $$",
		"CREATE ROLE " + role + " LOGIN NOCREATEROLE PASSWORD 'loader secret'",
		"ALTER DATABASE " + pg.Ident(db) + " OWNER TO " + role,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		admin.Exec(ctx, "ALTER DATABASE "+pg.Ident(db)+" OWNER TO CURRENT_USER")
		admin.Exec(ctx, "DROP OWNED BY "+role)
		admin.Exec(ctx, "DROP ROLE "+role)
	})
	user := strings.SplitN(strings.TrimPrefix(url, "postgres://"), "@", 2)[0]
	loader := strings.Replace(url, user, role+":loader%20secret", 1)

	r := percolate(t, root, loader, "run")
	if want := "GRANT percolate_models TO " + role; r.code != ExitFailure || !strings.Contains(r.stderr, want) {
		t.Fatalf("without membership in percolate_models: got exit %d, stderr %q; want exit 1 saying %q", r.code, r.stderr, want)
	}
	if _, err := admin.Exec(ctx, "GRANT percolate_models TO "+role); err != nil {
		t.Fatal(err)
	}
	mustRun(t, root, loader, "run")
	for _, rel := range []string{"marts.branch_daily_sales", "core.orders", "health.runs"} {
		if got := scalar[string](t, admin, "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = $1::regclass", rel); got != pg.ModelsRole {
			t.Errorf("owner of %s: got %s, want %s", rel, got, pg.ModelsRole)
		}
	}
}

// TestCitusModelsRole: on Citus the models' role builds the distributed
// marts (reaching the workers with the password only Citus holds) and is
// refused there what it is refused on PostgreSQL.
func TestCitusModelsRole(t *testing.T) {
	citus := pgtest.CitusURL(t)
	mustRun(t, root, citus, "run")
	admin := connect(t, citus)
	if got := scalar[string](t, admin, "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = 'marts.hourly_sales'::regclass"); got != pg.ModelsRole {
		t.Errorf("owner of marts.hourly_sales: got %s, want %s", got, pg.ModelsRole)
	}
	if n := scalar[int](t, admin, "SELECT count(*)::int FROM pg_dist_shard WHERE logicalrelid = 'marts.hourly_sales'::regclass"); n == 0 {
		t.Error("marts.hourly_sales is not distributed")
	}
	t.Run("models", func(t *testing.T) { testModelsRole(t, admin) })
}

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/pgtest"
)

// moneySQL declares two functions, one calling the other and reading a
// var, in a schema of their own.
const moneySQL = `-- Money, rounded half up to the penny.
CREATE FUNCTION money.to_penny(amount numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN round(amount, 2);

-- An amount with VAT at pipelines.yaml's rate.
CREATE FUNCTION money.with_vat(amount numeric) RETURNS numeric
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT money.to_penny(amount * (1 + percolate.var('vat_rate')::numeric)) $$;
`

// fareDaysSQL calls a function and reads a var itself.
const fareDaysSQL = `-- materialized: table
-- check: unique(trip_date)
SELECT trip_date,
       money.with_vat(sum(fare)) AS fares_with_vat,
       percolate.var('currency') AS currency
FROM staging.trips
GROUP BY trip_date
`

const fareDaysTest = `cases:
  - name: fares with VAT, to the penny
    given:
      staging.trips:
        - {trip_date: 2024-05-01, fare: 2.50}
        - {trip_date: 2024-05-01, fare: 1.13}
    expect:
      - {trip_date: 2024-05-01, fares_with_vat: 4.36, currency: GBP}
`

const varsYAML = `
vars:
  vat_rate: 0.20
  currency: GBP
`

// functionProject is init's example project with the functions, the vars
// and a mart using them.
func functionProject(t *testing.T, url string) string {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, dir, url, "init")
	b, err := os.ReadFile(filepath.Join(dir, "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "pipelines.yaml", string(b)+varsYAML)
	write(t, dir, "models/functions/money.sql", moneySQL)
	write(t, dir, "models/marts/fare_days.sql", fareDaysSQL)
	write(t, dir, "models/marts/fare_days.test.yaml", fareDaysTest)
	return dir
}

// TestFunctionsAndVars: project functions are created before the models
// calling them, which paste into psql as they are; editing a function, one
// it calls, or a var it or the model reads rebuilds the model and nothing
// else; lineage names them.
func TestFunctionsAndVars(t *testing.T) {
	url := pgtest.URL(t)
	dir := functionProject(t, url)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	want := func(rate, places string) string {
		return `SELECT string_agg(trip_date || ' ' || round(s * (1 + ` + rate + `), ` + places + `), ',' ORDER BY trip_date)
			FROM (SELECT trip_date, sum(fare) AS s FROM staging.trips GROUP BY trip_date) AS d`
	}
	got := `SELECT string_agg(trip_date || ' ' || fares_with_vat, ',' ORDER BY trip_date) FROM marts.fare_days`
	if g, w := scalar[string](t, pool, got), scalar[string](t, pool, want("0.20", "2")); g != w {
		t.Errorf("marts.fare_days: got %s, want %s", g, w)
	}
	if c := scalar[string](t, pool, `SELECT DISTINCT currency FROM marts.fare_days`); c != "GBP" {
		t.Errorf("currency: got %q, want GBP", c)
	}
	// The model file pastes into psql: its functions and vars are there.
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM ("+fareDaysSQL+") AS m").Scan(&n); err != nil || n == 0 {
		t.Errorf("the model's file run as it is: %d rows, %v", n, err)
	}
	if r := mustRun(t, dir, url, "run"); !strings.Contains(r.stdout, "models:  0 built") {
		t.Errorf("second run: want nothing built, got:\n%s", r.stdout)
	}

	steps := []struct {
		name, file, from, to string
		reason, rate, places string
	}{
		{"a var the function reads", "pipelines.yaml", "vat_rate: 0.20", "vat_rate: 0.25", "function money.with_vat", "0.25", "2"},
		{"a function the function calls", "models/functions/money.sql", "round(amount, 2)", "round(amount, 1)", "function money.with_vat", "0.25", "1"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, s.file))
			if err != nil {
				t.Fatal(err)
			}
			write(t, dir, s.file, strings.Replace(string(b), s.from, s.to, 1))
			plan := mustRun(t, dir, url, "plan")
			if !strings.Contains(plan.stdout, "build marts.fare_days") || !strings.Contains(plan.stdout, s.reason) || !strings.Contains(plan.stdout, "skip  marts.station_days") {
				t.Errorf("plan: want marts.fare_days alone built, for %s:\n%s", s.reason, plan.stdout)
			}
			// diff builds with the edit in the transaction it rolls back.
			defs := `SELECT string_agg(pg_get_functiondef(p.oid), '' ORDER BY proname) FROM pg_proc AS p WHERE pronamespace = 'money'::regnamespace`
			was := scalar[string](t, pool, defs)
			if d := mustRun(t, dir, url, "diff"); !strings.Contains(d.stdout, "marts.fare_days") || !strings.Contains(d.stdout, "changed 1") {
				t.Errorf("diff: want marts.fare_days changed:\n%s", d.stdout)
			}
			if now := scalar[string](t, pool, defs); now != was {
				t.Errorf("diff left the functions changed:\n%s\nwas:\n%s", now, was)
			}
			run := mustRun(t, dir, url, "run")
			if !strings.Contains(run.stdout, "models:  1 built") {
				t.Errorf("run: want one model built:\n%s", run.stdout)
			}
			if g, w := scalar[string](t, pool, got), scalar[string](t, pool, want(s.rate, s.places)); g != w {
				t.Errorf("marts.fare_days: got %s, want %s", g, w)
			}
		})
	}

	b, _ := os.ReadFile(filepath.Join(dir, "pipelines.yaml"))
	write(t, dir, "pipelines.yaml", strings.Replace(string(b), "currency: GBP", "currency: EUR", 1))
	if r := mustRun(t, dir, url, "run"); !strings.Contains(r.stdout, "models:  1 built") {
		t.Errorf("run after a var the model reads changed: want it built:\n%s", r.stdout)
	}
	if c := scalar[string](t, pool, `SELECT DISTINCT currency FROM marts.fare_days`); c != "EUR" {
		t.Errorf("currency after the var's edit: got %q, want EUR", c)
	}

	lin := mustRun(t, dir, url, "models", "lineage", "marts.fare_days")
	for _, w := range []string{"functions  money.with_vat (models/functions/money.sql:6)", "vars       currency"} {
		if !strings.Contains(lin.stdout, w) {
			t.Errorf("lineage: want %q in:\n%s", w, lin.stdout)
		}
	}
	// Unit tests call the functions and read the vars as they are now:
	// 3.63 with VAT at 25% is 4.5375: 4.5, rounded to one place by now.
	write(t, dir, "models/marts/fare_days.test.yaml", strings.Replace(fareDaysTest, "fares_with_vat: 4.36, currency: GBP", "fares_with_vat: 4.5, currency: EUR", 1))
	if r := mustRun(t, dir, url, "test", "--unit"); !strings.Contains(r.stdout, "ok   marts.fare_days") {
		t.Errorf("test --unit: want the case ok:\n%s", r.stdout)
	}
}

// TestFunctionErrors: what cannot be a project function, or a var no
// pipelines.yaml declares, is a usage error naming file and line.
func TestFunctionErrors(t *testing.T) {
	url := pgtest.URL(t)
	cases := []struct {
		name, file, body, want string
	}{
		{"unknown var", "models/marts/fare_days.sql", strings.Replace(fareDaysSQL, "'currency'", "'currencies'", 1),
			"models/marts/fare_days.sql:5: percolate.var('currencies'): no var currencies in pipelines.yaml's vars: it declares currency, vat_rate"},
		{"not a function", "models/functions/wipe.sql", "\nDELETE FROM percolate.files;\n", "models/functions/wipe.sql:2: only CREATE FUNCTION statements belong in models/functions"},
		{"no schema", "models/functions/half.sql", "CREATE FUNCTION half(x numeric) RETURNS numeric LANGUAGE sql RETURN x / 2;\n", "models/functions/half.sql:1: function half has no schema"},
		{"syntax", "models/functions/half.sql", "CREATE FUNCTION money.half(x numeric) RETURNS numeric LANGUAGE sql RETURN x /;\n", "models/functions/half.sql:1: syntax error"},
		{"a source's schema", "models/functions/half.sql", "CREATE FUNCTION staging.half(x numeric) RETURNS numeric LANGUAGE sql RETURN x / 2;\n", "models/functions/half.sql:1: schema staging is the staging tables' (staging.trips): put function staging.half in a schema of the project's models"},
		{"var in a function", "models/functions/money.sql", strings.Replace(moneySQL, "'vat_rate'", "'vat'", 1), "models/functions/money.sql:6: percolate.var('vat'): no var vat"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := functionProject(t, url)
			write(t, dir, c.file, c.body)
			r := percolate(t, dir, url, "validate")
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("validate: got exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, c.want)
			}
		})
	}
}

// TestVarFromReader: a view that calls percolate.var can be read by the
// dashboards' role, which may not read percolate.vars itself; and that
// role still cannot read the vars' table, nor any var but through the
// function.
func TestVarFromReader(t *testing.T) {
	varFromReader(t, pgtest.URL(t))
}

// TestVarFromReaderCitus: the same on Citus.
func TestVarFromReaderCitus(t *testing.T) {
	varFromReader(t, pgtest.CitusURL(t))
}

// varFromReader has the reader's role read a view calling percolate.var
// on the server at url.
func varFromReader(t *testing.T, url string) {
	t.Helper()
	t.Setenv(EnvReaderPassword, "reader secret")
	dir := functionProject(t, url)
	write(t, dir, "models/marts/fare_currency.sql", "SELECT trip_date, percolate.var('currency') AS currency\nFROM marts.fare_days\n")
	mustRun(t, dir, url, "run")
	// What the cafe's migrations give the dashboards' role on its marts.
	admin := connect(t, url)
	if _, err := admin.Exec(context.Background(), "GRANT USAGE ON SCHEMA marts TO percolate_grafana; GRANT SELECT ON marts.fare_currency TO percolate_grafana"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reader, err := pgx.Connect(ctx, asReader(url, "reader secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	var currency string
	if err := reader.QueryRow(ctx, `SELECT DISTINCT currency FROM marts.fare_currency`).Scan(&currency); err != nil || currency != "GBP" {
		t.Errorf("the reader's role reading a view that calls percolate.var: got %q, %v; want GBP", currency, err)
	}
	if _, err := reader.Exec(ctx, `SELECT * FROM percolate.vars`); err == nil {
		t.Errorf("the reader's role read percolate.vars: want permission denied")
	}
}

// TestDeletedFunction: a function deleted from models/functions, or
// renamed, is dropped by the next run once nothing calls it, whether the
// run builds anything or not; while a model still calls it, run and diff
// fail before building anything, naming the model and line.
func TestDeletedFunction(t *testing.T) {
	deletedFunction(t, pgtest.URL(t))
}

// TestDeletedFunctionCitus: the same on Citus, which creates and drops a
// function on every node.
func TestDeletedFunctionCitus(t *testing.T) {
	deletedFunction(t, pgtest.CitusURL(t))
}

// deletedFunction deletes, renames and still calls functions of a project
// on the server at url.
func deletedFunction(t *testing.T, url string) {
	t.Helper()
	dir := functionProject(t, url)
	write(t, dir, "models/functions/spare.sql", "CREATE FUNCTION money.spare(x numeric) RETURNS numeric LANGUAGE sql RETURN x;\n")
	write(t, dir, "models/marts/fare_vat.sql", "SELECT trip_date,\n       money.with_vat(fares_with_vat) AS twice\nFROM marts.fare_days\n")
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	functions := `SELECT coalesce(string_agg(proname, ',' ORDER BY proname), '') FROM pg_proc WHERE pronamespace = 'money'::regnamespace`
	recorded := `SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM percolate.functions`
	if got := scalar[string](t, pool, functions); got != "spare,to_penny,with_vat" {
		t.Fatalf("functions after the first run: got %s", got)
	}

	// Deleted alone, called by nothing: dropped by a run that builds nothing.
	if err := os.Remove(filepath.Join(dir, "models/functions/spare.sql")); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, dir, url, "plan"); !strings.Contains(r.stdout, "drop function money.spare: no file of models/functions declares it any more") {
		t.Errorf("plan after spare.sql was deleted: want it to say the run drops it:\n%s", r.stdout)
	}
	if r := mustRun(t, dir, url, "run"); !strings.Contains(r.stdout, "models:  0 built") {
		t.Errorf("run after spare.sql was deleted: want nothing built:\n%s", r.stdout)
	}
	if got := scalar[string](t, pool, functions); got != "to_penny,with_vat" {
		t.Errorf("functions after spare.sql was deleted: got %s, want to_penny,with_vat", got)
	}
	if got := scalar[string](t, pool, recorded); got != "money.to_penny,money.with_vat" {
		t.Errorf("percolate.functions after spare.sql was deleted: got %s", got)
	}

	// Renamed: the new name is created, the old one dropped.
	write(t, dir, "models/functions/money.sql", strings.ReplaceAll(moneySQL, "money.to_penny", "money.round_penny"))
	if r := mustRun(t, dir, url, "run"); !strings.Contains(r.stdout, "models:  2 built") {
		t.Errorf("run after to_penny was renamed: want its callers built:\n%s", r.stdout)
	}
	if got := scalar[string](t, pool, functions); got != "round_penny,with_vat" {
		t.Errorf("functions after to_penny was renamed: got %s, want round_penny,with_vat", got)
	}

	// Deleted while two models still call it: refused before building,
	// naming the first caller's line; nothing changes.
	if err := os.Remove(filepath.Join(dir, "models/functions/money.sql")); err != nil {
		t.Fatal(err)
	}
	fares := `SELECT string_agg(trip_date || ' ' || fares_with_vat, ',' ORDER BY trip_date) FROM marts.fare_days`
	was := scalar[string](t, pool, fares)
	for _, cmd := range []string{"plan", "run", "diff"} {
		r := percolate(t, dir, url, cmd)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "models/marts/fare_days.sql:4: calls money.with_vat, which no file of models/functions declares any more") {
			t.Errorf("%s with money.with_vat deleted and still called: got exit %d, stderr:\n%s\nwant exit 2 naming the caller", cmd, r.code, r.stderr)
		}
	}
	if got := scalar[string](t, pool, functions); got != "round_penny,with_vat" {
		t.Errorf("functions after the refused run: got %s, want them as they were", got)
	}
	if got := scalar[string](t, pool, fares); got != was {
		t.Errorf("marts.fare_days after the refused run: got %s, want %s", got, was)
	}

	// Its callers stop calling it (one of them a view, which depends on
	// it until the publish replaces it): dropped, and forgotten.
	write(t, dir, "models/marts/fare_days.sql", strings.Replace(fareDaysSQL, "money.with_vat(sum(fare))", "round(sum(fare) * 1.2, 2)", 1))
	write(t, dir, "models/marts/fare_vat.sql", "SELECT trip_date,\n       fares_with_vat * 2 AS twice\nFROM marts.fare_days\n")
	mustRun(t, dir, url, "run")
	if got := scalar[string](t, pool, functions); got != "" {
		t.Errorf("functions after the last callers stopped: got %s, want none", got)
	}
	if got := scalar[string](t, pool, recorded); got != "" {
		t.Errorf("percolate.functions after the last callers stopped: got %s, want none", got)
	}
	if got := scalar[string](t, pool, `SELECT count(*)::text FROM marts.fare_vat`); got == "0" {
		t.Errorf("marts.fare_vat after the run: no rows")
	}
	if citus := scalar[int](t, pool, `SELECT count(*)::int FROM pg_extension WHERE extname = 'citus'`); citus > 0 {
		// Citus made them on the workers too: dropped there as well.
		if got := scalar[string](t, pool, `SELECT string_agg(result, ',') FROM run_command_on_workers($$SELECT count(*) FROM pg_proc WHERE pronamespace = to_regnamespace('money')$$)`); strings.Trim(got, "0,") != "" {
			t.Errorf("functions left on the workers: got %s, want 0 on each", got)
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// root is the project folder: the tests run the real pipeline, models and
// migrations.
const root = "../.."

// sharedData is where the real sample files are (see samples).
var sharedData = filepath.Join(root, "..", "shared", "data")

type result struct {
	code           int
	stdout, stderr string
}

// percolate runs the CLI against a database url in project folder dir.
func percolate(t *testing.T, dir, url string, args ...string) result {
	t.Helper()
	t.Setenv("PERCOLATE_HASH_KEY", "cli test key")
	var out, errOut bytes.Buffer
	full := append([]string{"-C", dir, "--database-url", url}, args...)
	code := Run(context.Background(), full, strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func mustRun(t *testing.T, dir, url string, args ...string) result {
	t.Helper()
	r := percolate(t, dir, url, args...)
	if r.code != 0 {
		t.Fatalf("percolate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pg.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

var filesLine = regexp.MustCompile(`files:\s+(\d+) loaded, (\d+) replaced, (\d+) skipped`)

func TestRunTwiceChangesNothing(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	first := mustRun(t, root, url, "run")
	m := filesLine.FindStringSubmatch(first.stdout)
	if m == nil || m[1] == "0" || m[3] != "0" {
		t.Fatalf("first run: want files loaded and none skipped, got:\n%s", first.stdout)
	}
	counts := func() string {
		return scalar[string](t, pool, `SELECT (SELECT count(*) FROM core.orders) || '/' || (SELECT count(*) FROM core.order_items) || '/' ||
			(SELECT sum(revenue) FROM marts.branch_daily_sales) || '/' || (SELECT count(*) FROM staging.transactions)`)
	}
	before := counts()
	second := mustRun(t, root, url, "run")
	m2 := filesLine.FindStringSubmatch(second.stdout)
	if m2 == nil || m2[1] != "0" || m2[3] != m[1] {
		t.Errorf("second run: want 0 loaded and %s skipped, got:\n%s", m[1], second.stdout)
	}
	if after := counts(); after != before {
		t.Errorf("second run changed the warehouse: %s, then %s", before, after)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.runs WHERE status = 'ok'`); n != 2 {
		t.Errorf("ledger: %d ok runs, want 2", n)
	}
}

// TestRedeliveryAddsNoOrder: the sample's files delivered again, renamed
// and re-encoded, are told redeliveries by their rows' keys: skipped,
// nothing added to staging or the core.
func TestRedeliveryAddsNoOrder(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, root, url, "run")
	orders := scalar[int](t, pool, `SELECT count(*) FROM core.orders`)
	staged := scalar[int](t, pool, `SELECT count(*) FROM staging.transactions`)

	// The same files again, renamed and with CRLF line endings.
	dir := t.TempDir()
	srcs, _ := filepath.Glob(filepath.Join(root, "testdata/cafe/layout_a/*.csv"))
	for i, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
		if err := os.WriteFile(filepath.Join(dir, "again-"+string(rune('a'+i))+".csv"), crlf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := mustRun(t, root, url, "run", "--source", "transactions="+filepath.Join(dir, "*.csv"))
	if m := filesLine.FindStringSubmatch(r.stdout); m == nil || m[1] != "0" || m[3] == "0" {
		t.Fatalf("want the 9 renamed files skipped as redeliveries, got:\n%s", r.stdout)
	}
	if got := scalar[int](t, pool, `SELECT count(*) FROM core.orders`); got != orders {
		t.Errorf("orders: got %d after redelivery, want %d", got, orders)
	}
	if got := scalar[int](t, pool, `SELECT count(*) FROM staging.transactions`); got != staged {
		t.Errorf("staging holds %d rows after the redelivery, want the %d it held", got, staged)
	}
}

// TestRepeatedWithinAFile: an order written twice in one file, and again
// in another file for the same branch and day, counts once in core.orders
// and in the marts; staging keeps every row, the loader marking the one
// that repeats its file.
func TestRepeatedWithinAFile(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	dir := t.TempDir()
	order := `02/03/2022 09:15,Leeds,Ann Smith,"Large Latte - 2.45, Regular Mocha - 2.30",4.75,CARD,4111111111111111` + "\n"
	other := `02/03/2022 09:20,Leeds,Bob Jones,"Regular Latte - 2.15",2.15,CASH,` + "\n"
	// York's day is one file's: only the loader's mark finds its repeat.
	york := `03/03/2022 10:00,York,Cy Twice,"Large Mocha - 2.60",2.60,CASH,` + "\n"
	for name, content := range map[string]string{
		"leeds_02-03-2022_09-00-00.csv":       order + other + order,
		"leeds_02-03-2022_09-00-00-again.csv": other + order,
		"york_03-03-2022_09-00-00.csv":        york + york,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, root, url, "run", "--source", "transactions="+filepath.Join(dir, "*.csv"), "--source", "legacy_transactions="+filepath.Join(dir, "none-*.csv"))
	if got := scalar[string](t, pool, `SELECT count(*) || ' orders, ' || sum(total) FROM core.orders`); got != "3 orders, 9.50" {
		t.Errorf("core.orders: %s, want 3 orders, 9.50", got)
	}
	if got := scalar[string](t, pool, `SELECT string_agg(branch || ': ' || orders || ' orders, ' || items || ' items, ' || revenue, '; ' ORDER BY branch) FROM marts.branch_daily_sales`); got != "Leeds: 2 orders, 3 items, 6.90; York: 1 orders, 1 items, 2.60" {
		t.Errorf("branch_daily_sales: %s", got)
	}
	if got := scalar[string](t, pool, `SELECT string_agg(repeated::text, ',' ORDER BY path, source_line) FROM staging.transactions JOIN percolate.files USING (load_id)`); got != "false,false,false,false,true,false,true" {
		t.Errorf("staging's repeated flags by file and line: %s, want false,false (leeds again), false,false,true (leeds), false,true (york)", got)
	}
	if got := scalar[int](t, pool, `SELECT count(*) FROM staging.transactions`) - scalar[int](t, pool, `SELECT count(*) FROM core.orders`); got != 4 {
		t.Errorf("staging rows left out of core.orders: %d, want 4 (a repeat in each first file, both rows of the second Leeds file)", got)
	}
}

func TestExitCodes(t *testing.T) {
	url := pgtest.URL(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown command", []string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--jbos", "2"}, ExitUsage, "unknown flag: --jbos"},
		{"bad --source", []string{"run", "--source", "transactions"}, ExitUsage, "want NAME=GLOB"},
		{"bad --build-jobs", []string{"backfill", "--from", "2022-03-01", "--to", "2022-03-02", "--build-jobs", "-1"}, ExitUsage, "--build-jobs -1: want a count of 1 or more, or 0 for the default"},
		{"bad --jobs", []string{"run", "--jobs", "-1"}, ExitUsage, "--jobs -1: want a count of 1 or more"},
		{"bad watch --jobs", []string{"watch", "--jobs", "-2"}, ExitUsage, "--jobs -2: want a count of 1 or more"},
		{"--build-jobs with --env", []string{"run", "--env", "dev", "--build-jobs", "2"}, ExitUsage, "--build-jobs: an environment's build makes its models one at a time"},
		{"unknown source", []string{"run", "--source", "nope=x.csv"}, ExitUsage, "--source nope: pipeline cafe has no such source"},
		{"unknown pipeline", []string{"run", "shop"}, ExitUsage, `no pipeline "shop"`},
		{"bad database", []string{"run", "--database-url", "postgres://nobody@127.0.0.1:1/x"}, ExitFailure, "connect to 127.0.0.1:1/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := percolate(t, root, url, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("got exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	lock, err := pg.Lock(context.Background(), pool, "run", false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	r := percolate(t, root, url, "run")
	if r.code != ExitBusy || !strings.Contains(r.stderr, "another percolate run holds the lock") {
		t.Errorf("got exit %d, stderr %q; want exit 3 saying another run holds the lock", r.code, r.stderr)
	}
}

func TestValidateAndList(t *testing.T) {
	r := mustRun(t, root, "postgres://unused", "validate")
	if !strings.Contains(r.stdout, fmt.Sprintf("pipeline cafe: 2 sources, %d models, ", models(t))) {
		t.Errorf("validate: got %q", r.stdout)
	}
	if !strings.Contains(r.stdout, "grafana: 4 dashboards, 6 alert rules: ok") || r.stderr != "" {
		t.Errorf("validate does not say the Grafana declarations are ok, or warns: %q, %q", r.stdout, r.stderr)
	}
	r = mustRun(t, root, "postgres://unused", "models", "list")
	for _, m := range []string{"core.orders", "marts.branch_daily_sales", "marts.product_daily_sales", "marts.hourly_sales"} {
		if !strings.Contains(r.stdout, m) {
			t.Errorf("models list does not show %s:\n%s", m, r.stdout)
		}
	}
	if strings.Index(r.stdout, "core.orders") > strings.Index(r.stdout, "marts.branch_daily_sales") {
		t.Errorf("models list is not in build order:\n%s", r.stdout)
	}
}

// TestNoPersonalData loads every file there is, dumps the whole database
// and looks for every customer name and card number of the input.
func TestNoPersonalData(t *testing.T) {
	url := pgtest.URL(t)
	mustRun(t, root, url, "run")
	files, _ := filepath.Glob(filepath.Join(root, "testdata/cafe/*/*.csv"))
	if samples(t, false) {
		a, b := sampleA(t), sampleB(t)
		mustRun(t, root, url, "run", "--source", "transactions="+a, "--source", "legacy_transactions="+b)
		files = append(files, a, b)
	}
	personal := map[string]bool{}
	for _, f := range files {
		for _, rec := range readCSV(t, f) {
			personal[rec[2]] = true
			card := rec[6]
			if _, num, ok := strings.Cut(card, ","); ok {
				card = num
			}
			if card != "" && card != "None" {
				personal[card] = true
			}
		}
	}
	if len(personal) < 100 {
		t.Fatalf("found only %d personal values in the input; the test would prove little", len(personal))
	}
	quoted := false
	for v := range personal {
		quoted = quoted || strings.Contains(v, "'")
	}
	if !quoted {
		t.Fatal("no personal value has a quote (O'Neill): the test would not show that the dump leaves quotes as they are")
	}
	dump := pgDump(t, url)
	if !bytes.Contains(dump, []byte("Chesterfield")) {
		t.Fatal("the dump does not hold the loaded data")
	}
	for v := range personal {
		if bytes.Contains(dump, []byte(v)) {
			t.Errorf("personal value %q is in the database", v)
		}
	}
}

func pgDump(t *testing.T, url string) []byte {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		dir, derr := pg.FindBinaries()
		if derr != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "pg_dump")
	}
	// COPY format: values as they are, O'Neill as O'Neill (INSERTs
	// would double the quote and hide it from a grep).
	out, err := exec.Command(bin, "--data-only", url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

func TestGlobMatchingNothingWarns(t *testing.T) {
	r := mustRun(t, root, pgtest.URL(t), "load", "--source", "transactions=/nonexistent/*.csv")
	if !strings.Contains(r.stdout, "warning: source transactions: no file matches /nonexistent/*.csv") {
		t.Errorf("a glob that matches nothing should be said:\n%s", r.stdout)
	}
}

// TestEmbeddedDatabase drives the embedded default through the CLI in a
// project folder of its own: start, status, url, a run with no URL given,
// stop.
func TestEmbeddedDatabase(t *testing.T) {
	dir := tempProject(t)
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil { // the server's user must reach it
		t.Fatal(err)
	}
	t.Setenv(EnvDatabaseURL, "")
	run := func(args ...string) result {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"-C", dir}, args...), strings.NewReader(""), &out, &errOut)
		return result{code, out.String(), errOut.String()}
	}
	t.Cleanup(func() { run("db", "stop") })
	if r := run("db", "start"); r.code != 0 || !strings.Contains(r.stdout, "embedded database running in") {
		t.Fatalf("db start: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("db", "start"); r.code != 0 {
		t.Fatalf("a second db start: exit %d\n%s", r.code, r.stderr)
	}
	r := run("db", "url")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "postgres://percolate:") || !strings.Contains(r.stdout, "@127.0.0.1:") {
		t.Fatalf("db url: %q", r.stdout)
	}
	t.Setenv("PERCOLATE_HASH_KEY", "embedded test key")
	if r := run("run"); r.code != 0 || !strings.Contains(r.stdout, "13 loaded") {
		t.Fatalf("run on the embedded database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("db", "stop"); r.code != 0 || !strings.Contains(run("db", "status").stdout, "stopped") {
		t.Fatalf("db stop: exit %d\n%s", r.code, r.stderr)
	}
}

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// tempProject copies the project's pipelines.yaml, models and sample data
// into a folder the test may break.
func tempProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"pipelines.yaml", "models", "migrations", "testdata/cafe", "grafana", "dashboards", "alerts.yaml"} {
		if err := os.CopyFS(filepath.Join(dir, p), os.DirFS(filepath.Join(root, p))); err != nil {
			if err := copyFile(filepath.Join(root, p), filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMisspeltKey(t *testing.T) {
	dir := tempProject(t)
	path := filepath.Join(dir, "pipelines.yaml")
	edit(t, path, "        max_rejects: 5%\n        table: staging.legacy", "        max_reject: 5%\n        table: staging.legacy")
	want := fmt.Sprintf(`pipelines.yaml:%d: unknown key "max_reject" in source`, lineOf(t, path, "max_reject:"))
	for _, cmd := range []string{"validate", "run"} {
		r := percolate(t, dir, pgtest.URL(t), cmd)
		if r.code != ExitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: got exit %d, stderr %q; want exit 2 and %q", cmd, r.code, r.stderr, want)
		}
	}
}

// TestMisspeltStagingColumn misspells a column of a staging table in its
// migration: validate (offline, from the migrations' SQL) and run (online,
// from the database, before loading anything) both name the line of
// pipelines.yaml that fills the column and the migration line that makes
// the table, and exit 2 with nothing loaded.
func TestMisspeltStagingColumn(t *testing.T) {
	dir := tempProject(t)
	migration := filepath.Join(dir, "migrations/00003_cafe_staging.sql")
	edit(t, migration, "    ordered_at     timestamptz   NOT NULL", "    ordred_at      timestamptz   NOT NULL")
	config := filepath.Join(dir, "pipelines.yaml")
	// legacy_transactions sorts first; its table is made LIKE the other.
	column := lineOf(t, config, "      - name: ordered_at\n            type: timestamp\n            layouts: [\"%Y-%m-%d %H:%M:%S\"")
	table := lineOf(t, migration, "CREATE TABLE staging.legacy_transactions")
	url := pgtest.URL(t)
	for cmd, want := range map[string]string{
		"validate": fmt.Sprintf("pipelines.yaml:%d: source legacy_transactions: staging.legacy_transactions in the migrations has no column ordered_at (migrations/00003_cafe_staging.sql:%d)", column, table),
		"run":      fmt.Sprintf("pipelines.yaml:%d: source legacy_transactions: staging.legacy_transactions in the database has no column ordered_at, which the contract fills", column),
	} {
		r := percolate(t, dir, url, cmd)
		if r.code != ExitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: got exit %d, stderr %q; want exit 2 and %q", cmd, r.code, r.stderr, want)
		}
	}
	pool := connect(t, url)
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files`); n != 0 {
		t.Errorf("%d files loaded into mismatched staging tables, want none", n)
	}
}

func TestModelSyntaxError(t *testing.T) {
	dir := tempProject(t)
	path := filepath.Join(dir, "models/marts/hourly_sales.sql")
	edit(t, path, "GROUP BY branch,", "GROUP BY BY branch,")
	want := fmt.Sprintf(`models/marts/hourly_sales.sql:%d: syntax error at or near "branch"`, lineOf(t, path, "GROUP BY BY"))
	r := percolate(t, dir, pgtest.URL(t), "validate")
	if r.code != ExitUsage || !strings.Contains(r.stderr, want) {
		t.Errorf("got exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, want)
	}
}

// TestModelDatabaseError breaks a model in a way only the database sees,
// after a good run: the run fails naming the model's file and line, the
// newly loaded files stay loaded, and the published marts stay as they were.
func TestModelDatabaseError(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run", "--source", "legacy_transactions="+filepath.Join(dir, "testdata/cafe/layout_b/*-22-*.csv"))
	revenue := scalar[string](t, pool, `SELECT sum(revenue)::text FROM marts.branch_daily_sales`)

	path := filepath.Join(dir, "models/marts/branch_daily_sales.sql")
	edit(t, path, "sum(revenue) AS revenue", "sum(revnue) AS revenue")
	want := fmt.Sprintf(`models/marts/branch_daily_sales.sql:%d: column "revnue" does not exist`, lineOf(t, path, "revnue"))
	r := percolate(t, dir, url, "run")
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) {
		t.Errorf("got exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
	if got := scalar[string](t, pool, `SELECT sum(revenue)::text FROM marts.branch_daily_sales`); got != revenue {
		t.Errorf("marts changed by a failed run: revenue %s, then %s", revenue, got)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE '%-23-%'`); n != 2 {
		t.Errorf("the files loaded before the failed build: %d in the manifest, want 2", n)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.runs WHERE status = 'failed' AND error LIKE '%revnue%'`); n != 1 {
		t.Errorf("ledger: %d failed runs naming the error, want 1", n)
	}
}

func TestBadRowNamed(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	file := filepath.Join(dir, "testdata/cafe/layout_a/leeds_01-03-2022_09-00-00.csv")
	b, _ := os.ReadFile(file)
	lines := strings.Split(string(b), "\n")
	lines[9] = strings.TrimSuffix(lines[9], ",") + ",extra,field"
	os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644)

	r := mustRun(t, dir, url, "run")
	if !strings.Contains(r.stdout, "testdata/cafe/layout_a/leeds_01-03-2022_09-00-00.csv: 1 (first: line 10:") {
		t.Errorf("the summary does not name the file and line of the bad row:\n%s", r.stdout)
	}
	r = mustRun(t, dir, url, "rejects", "--file", "testdata/cafe/layout_a/leeds_01-03-2022_09-00-00.csv")
	if !strings.Contains(r.stdout, "leeds_01-03-2022_09-00-00.csv:10:") || !strings.Contains(r.stdout, "fields, the contract has 7") {
		t.Errorf("rejects: got %q", r.stdout)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM staging.transactions JOIN percolate.files USING (load_id) WHERE path LIKE '%leeds_01-03%'`); n != len(lines)-2 {
		t.Errorf("the rest of the file: %d rows loaded, want %d", n, len(lines)-2)
	}
}

// lineOf is the line of a file where text first appears.
func lineOf(t *testing.T, path, text string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), text)
	if i < 0 {
		t.Fatalf("%s does not contain %q", path, text)
	}
	return strings.Count(string(b[:i]), "\n") + 1
}

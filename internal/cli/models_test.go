package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

var modelLine = regexp.MustCompile(`(?m)^    (\S+)\s+(skip \((.*)\)|(table|view|incremental)\s.*)$`)

// builds reads a run summary: model → "skip" or "build".
func builds(t *testing.T, stdout string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range modelLine.FindAllStringSubmatch(stdout, -1) {
		if strings.HasPrefix(m[2], "skip") {
			out[m[1]] = "skip"
		} else {
			out[m[1]] = "build"
		}
	}
	if n := models(t); len(out) != n {
		t.Fatalf("want %d models in the summary, got %v from:\n%s", n, out, stdout)
	}
	return out
}

// models counts the project's models: its models/**/*.sql files, but for
// its functions (models/functions).
func models(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "models", "*", "*.sql"))
	fns, _ := filepath.Glob(filepath.Join(root, "models", "functions", "*.sql"))
	if err != nil || len(files) == len(fns) {
		t.Fatalf("no models: %v", err)
	}
	return len(files) - len(fns)
}

func TestVersionsDecideWhatBuilds(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	mustRun(t, dir, url, "run")

	t.Run("a formatting-only edit rebuilds nothing", func(t *testing.T) {
		edit(t, filepath.Join(dir, "models/marts/hourly_sales.sql"), "SELECT branch,\n", "-- a new comment\nselect   branch ,\n\n")
		got := builds(t, mustRun(t, dir, url, "run").stdout)
		for m, b := range got {
			if b != "skip" {
				t.Errorf("%s: %s, want skip", m, b)
			}
		}
	})
	t.Run("a change rebuilds the model and what is downstream", func(t *testing.T) {
		edit(t, filepath.Join(dir, "models/core/product_days.sql"), "core.product_id(size, product) AS product_id", "core.product_id(size, product)::text AS product_id")
		r := mustRun(t, dir, url, "run")
		got := builds(t, r.stdout)
		// core.order_items reads its product ids from core.products.
		want := map[string]string{"core.orders": "skip", "core.order_items": "build", "marts.branch_daily_sales": "skip",
			"core.branches": "skip", "marts.hourly_sales": "skip", "marts.product_daily_sales": "build", "core.product_days": "build", "core.products": "build",
			"health.runs": "skip", "health.freshness": "skip"}
		for m, w := range want {
			if got[m] != w {
				t.Errorf("%s: %s, want %s\n%s", m, got[m], w, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "changed (version") || !strings.Contains(r.stdout, "upstream changed: core.product_days") {
			t.Errorf("the summary does not say why:\n%s", r.stdout)
		}
	})
	t.Run("new data rebuilds the models that read it", func(t *testing.T) {
		more := t.TempDir()
		day := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
		if _, err := generate.Write(generate.Options{Dir: more, Layout: generate.LayoutB, Branches: []string{"Isle of Wight"}, From: day, To: day, Orders: 30, Seed: 4}); err != nil {
			t.Fatal(err)
		}
		r := mustRun(t, dir, url, "plan", "--source", "legacy_transactions="+filepath.Join(more, "*.csv"))
		if !strings.Contains(r.stdout, "legacy_transactions    1 new of 1") || !strings.Contains(r.stdout, "build core.orders                  new files for legacy_transactions") {
			t.Errorf("plan:\n%s", r.stdout)
		}
	})
}

func TestFailingCheckPublishesNothing(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	before := scalar[string](t, pool, `SELECT count(*) || '/' || sum(revenue) FROM marts.branch_daily_sales`)

	// A duplicate branch-day breaks the mart's unique check.
	path := filepath.Join(dir, "models/marts/branch_daily_sales.sql")
	edit(t, path, "GROUP BY branch, sales_date", "GROUP BY branch, sales_date, payment_method")
	want := fmt.Sprintf("checks failed: models/marts/branch_daily_sales.sql:%d: marts.branch_daily_sales unique(branch, sales_date)", lineOf(t, path, "check: unique(branch, sales_date)"))
	r := percolate(t, dir, url, "run")
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) ||
		!strings.Contains(r.stderr, "nothing was published") {
		t.Errorf("got exit %d, stderr %q; want exit 1 naming the failed check", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"copies": 2`) {
		t.Errorf("the summary shows no sample failing rows:\n%s", r.stdout)
	}
	if after := scalar[string](t, pool, `SELECT count(*) || '/' || sum(revenue) FROM marts.branch_daily_sales`); after != before {
		t.Errorf("the mart changed although its check failed: %s, then %s", before, after)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.check_results WHERE check_name = 'unique(branch, sales_date)' AND failures > 0`); n != 1 {
		t.Errorf("ledger: %d failed check results, want 1", n)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM pg_class WHERE relname LIKE '%\_\_next'`); n != 0 {
		t.Errorf("%d half-built relations left behind", n)
	}
	r = percolate(t, dir, url, "test", "--select", "tag:marts")
	if r.code != ExitOK || !regexp.MustCompile(`ok +marts.branch_daily_sales +unique\(branch, sales_date\) \(0 failing rows\)`).MatchString(r.stdout) {
		t.Errorf("test on the published marts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// readWhile calls read in a loop on another goroutine until stop is
// called, which returns what it read, or the first error.
func readWhile[T any](read func() (T, error)) (stop func() ([]T, error)) {
	done := make(chan struct{})
	var seen []T
	var err error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			v, rerr := read()
			if rerr != nil {
				err = rerr
				return
			}
			seen = append(seen, v)
		}
	}()
	return func() ([]T, error) {
		close(done)
		wg.Wait()
		return seen, err
	}
}

// TestWaitForLock: with --wait, a second run waits for the first's lock
// (seen in pg_locks) and then runs.
func TestWaitForLock(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	lock, err := pg.Lock(context.Background(), pool, "run", false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() { done <- percolate(t, root, url, "run", "--wait") }()
	pgtest.Eventually(t, 2*time.Minute, "the second run to wait on the lock", func() bool {
		select {
		case r := <-done:
			t.Fatalf("the second run did not wait: exit %d\n%s", r.code, r.stderr)
		default:
		}
		return scalar[int](t, pool, `SELECT count(*) FROM pg_locks WHERE relation = 'percolate.run_lock'::regclass AND NOT granted`) > 0
	})
	lock.Release()
	if r := <-done; r.code != ExitOK {
		t.Errorf("after the lock was released: exit %d\n%s", r.code, r.stderr)
	}
}

func TestGraphAndCompile(t *testing.T) {
	for _, f := range []string{"dot", "mermaid", "json"} {
		r := mustRun(t, root, "postgres://unused", "models", "graph", "--format", f)
		if !strings.Contains(r.stdout, "core") || !strings.Contains(r.stdout, "branch_daily_sales") {
			t.Errorf("%s: %s", f, r.stdout)
		}
	}
	r := mustRun(t, root, "postgres://unused", "models", "compile", "branch_daily_sales")
	if !strings.Contains(r.stdout, `CREATE TABLE marts.branch_daily_sales__next AS`) || !strings.Contains(r.stdout, `FROM "core"."order_sums__next"`) {
		t.Errorf("compile:\n%s", r.stdout)
	}
}

// TestComments: a model's description and its column lines are the
// comments of its published relation, as psql's \d+ shows them; an edit of
// a description alone shows after the next run; validate warns of a mart
// without one.
func TestComments(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	if got := scalar[string](t, pool, `SELECT coalesce(col_description('marts.branch_daily_sales'::regclass, 6), '')`); got != "revenue paid in cash" {
		t.Errorf("cash_revenue's comment: %q", got)
	}
	if got := scalar[string](t, pool, `SELECT coalesce(obj_description('core.orders'::regclass, 'pg_class'), '')`); !strings.HasPrefix(got, "One row per order") {
		t.Errorf("core.orders's comment: %q", got)
	}
	path := filepath.Join(dir, "models/marts/hourly_sales.sql")
	edit(t, path, "-- description: Orders and revenue", "-- description: Orders, and revenue,")
	mustRun(t, dir, url, "run")
	if got := scalar[string](t, pool, `SELECT coalesce(obj_description('marts.hourly_sales'::regclass, 'pg_class'), '')`); !strings.HasPrefix(got, "Orders, and revenue,") {
		t.Errorf("after an edit of the description alone: %q", got)
	}
	edit(t, path, "-- description: Orders, and revenue,", "-- nothing here: Orders, and revenue,")
	r := percolate(t, dir, url, "validate")
	if r.code != ExitOK || !strings.Contains(r.stderr, "warning: models/marts/hourly_sales.sql: a mart without a description") {
		t.Errorf("validate: exit %d, stderr %q", r.code, r.stderr)
	}
}

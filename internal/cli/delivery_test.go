package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestDeliveryExpectations: a generated month of 10 branches with one
// branch-day deleted, one file cut to a tenth and the newest day missing
// for one branch. Checked as of the day after the month, each expectation
// reports exactly those, at the declared severity: the run exits 0 with
// warnings; with the missing days' severity error, check-sources exits 1.
func TestDeliveryExpectations(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	data := t.TempDir()
	from := time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: generate.Branches(10),
		From: from, To: from.AddDate(0, 0, 29), Orders: 60, Seed: 21}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"leeds_20-03-2022_09-00-00.csv", "birmingham_30-03-2022_09-00-00.csv"} {
		if err := os.Remove(filepath.Join(data, f)); err != nil {
			t.Fatal(err)
		}
	}
	cut := filepath.Join(data, "chesterfield_25-03-2022_09-00-00.csv")
	b, err := os.ReadFile(cut)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	writeFile(t, cut, strings.Join(lines[:len(lines)/10], ""))
	sources := []string{"--source", "transactions=" + filepath.Join(data, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")}

	want := []string{
		"missing Birmingham 2022-03-30 warn",
		"missing Leeds 2022-03-20 warn",
		"stale Birmingham 2022-03-29 warn",
		"volume Chesterfield 2022-03-25 warn",
	}
	got := func(r result) []string {
		t.Helper()
		var out struct {
			Expectations []struct{ Source, Kind, Branch, Date, Severity, Detail string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		var s []string
		for _, e := range out.Expectations {
			if e.Source != "transactions" || e.Detail == "" {
				t.Errorf("expectation %+v: want source transactions and a detail", e)
			}
			s = append(s, e.Kind+" "+e.Branch+" "+e.Date+" "+e.Severity)
		}
		slices.Sort(s)
		return s
	}

	r := mustRun(t, dir, url, append([]string{"run", "--as-of", "2022-03-31"}, sources...)...)
	for _, w := range want {
		kind, rest, _ := strings.Cut(w, " ")
		if !strings.Contains(r.stdout, "transactions: "+kind+" "+strings.TrimSuffix(rest, " warn")) {
			t.Errorf("the run's summary does not say %q:\n%s", w, r.stdout)
		}
	}
	r = mustRun(t, dir, url, "check-sources", "--as-of", "2022-03-31", "--output", "json")
	if g := got(r); !slices.Equal(g, want) {
		t.Errorf("check-sources found:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(want, "\n  "))
	}
	pool := connect(t, url)
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM health.expectations`); n != len(want) {
		t.Errorf("health.expectations holds %d rows, want %d", n, len(want))
	}
	// As of the 30th, Birmingham's last day is not due yet: nothing
	// missing or stale for it, and Leeds's gap is still there.
	r = mustRun(t, dir, url, "check-sources", "--as-of", "2022-03-30", "--output", "json")
	if g := got(r); !slices.Equal(g, []string{"missing Leeds 2022-03-20 warn", "volume Chesterfield 2022-03-25 warn"}) {
		t.Errorf("as of 2022-03-30: %v", g)
	}

	edit(t, filepath.Join(dir, "pipelines.yaml"), "severity: warn}", "severity: error}")
	r = percolate(t, dir, url, "check-sources", "--as-of", "2022-03-31", "--output", "json")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "2 delivery expectation(s) of severity error unmet") {
		t.Errorf("with severity error: exit %d, stderr %q; want exit 1", r.code, r.stderr)
	}
	// Two days later Birmingham is over error_after: an error, and the run
	// that finds it exits 1 after publishing.
	r = percolate(t, dir, url, append([]string{"run", "--as-of", "2022-04-01"}, sources...)...)
	if r.code != ExitFailure || !strings.Contains(r.stdout, "stale Birmingham 2022-03-29 [error]") || !strings.Contains(r.stderr, "delivery expectations unmet") {
		t.Errorf("as of 2022-04-01: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

package cli

import (
	"context"
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

// findings reads check-sources --output json as "kind group date
// severity" lines, sorted.
func findings(t *testing.T, r result) []string {
	t.Helper()
	var out struct {
		Expectations []struct{ Source, Kind, Group, Date, Severity, Detail string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	var s []string
	for _, e := range out.Expectations {
		s = append(s, strings.TrimSpace(e.Kind+" "+e.Group)+" "+e.Date+" "+e.Severity)
	}
	slices.Sort(s)
	return s
}

// days lists "missing BRANCH DAY warn" for each day from..to.
func days(branch, from, to string) []string {
	var s []string
	d, _ := time.Parse(time.DateOnly, from)
	end, _ := time.Parse(time.DateOnly, to)
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		s = append(s, "missing "+branch+" "+d.Format(time.DateOnly)+" warn")
	}
	return s
}

func sorted(parts ...[]string) []string {
	s := slices.Concat(parts...)
	slices.Sort(s)
	return s
}

// TestSilenceIsAFinding: three branches deliver from 2022-03-01 to
// 2022-04-10, but Leeds stops after 2022-03-25 and Chesterfield never sent
// 2022-03-25. A branch that stopped stays expected (a warning, then an
// error past error_after, and every day of its silence listed), a hole 17
// days back is listed, --since narrows the list, every branch silent is
// one error, and retired: is how a branch stops being expected.
func TestSilenceIsAFinding(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	data := t.TempDir()
	from := time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: generate.Branches(3),
		From: from, To: time.Date(2022, 4, 10, 0, 0, 0, 0, time.UTC), Orders: 20, Seed: 25}); err != nil {
		t.Fatal(err)
	}
	gone := []string{"chesterfield_25-03-2022_09-00-00.csv"}
	for d := time.Date(2022, 3, 26, 0, 0, 0, 0, time.UTC); d.Month() < 4 || d.Day() <= 10; d = d.AddDate(0, 0, 1) {
		gone = append(gone, "leeds_"+d.Format("02-01-2006")+"_09-00-00.csv")
	}
	for _, f := range gone {
		if err := os.Remove(filepath.Join(data, f)); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "pipelines.yaml")
	edit(t, config, ", ended: 2022-03-03}", "}")
	sources := []string{"--source", "transactions=" + filepath.Join(data, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")}

	hole := []string{"missing Chesterfield 2022-03-25 warn"}
	// The run after loading checks as check-sources does: Leeds, silent 16
	// days, is an error (50h error_after), and the hole is there.
	r := percolate(t, dir, url, append([]string{"run", "--as-of", "2022-04-11"}, sources...)...)
	if r.code != ExitFailure || !strings.Contains(r.stdout, "transactions: stale Leeds 2022-03-25 [error]") ||
		!strings.Contains(r.stdout, "missing Chesterfield 2022-03-25") || !strings.Contains(r.stdout, "missing Leeds 2022-04-10") {
		t.Errorf("run as of 2022-04-11: exit %d, want 1 and Leeds stale, its days and the hole listed\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"two days of silence: a warning", []string{"--as-of", "2022-03-27"}, ExitOK,
			sorted(hole, days("Leeds", "2022-03-26", "2022-03-26"), []string{"stale Leeds 2022-03-25 warn"})},
		{"past error_after: an error", []string{"--as-of", "2022-03-28"}, ExitFailure,
			sorted(hole, days("Leeds", "2022-03-26", "2022-03-27"), []string{"stale Leeds 2022-03-25 error"})},
		{"16 days of silence, and a hole 17 days back", []string{"--as-of", "2022-04-11"}, ExitFailure,
			sorted(hole, days("Leeds", "2022-03-26", "2022-04-10"), []string{"stale Leeds 2022-03-25 error"})},
		{"--since narrows the missing days", []string{"--as-of", "2022-04-11", "--since", "2022-04-08"}, ExitFailure,
			sorted(days("Leeds", "2022-04-08", "2022-04-10"), []string{"stale Leeds 2022-03-25 error"})},
		{"every branch silent: one error, the days before it still listed", []string{"--as-of", "2022-05-01"}, ExitFailure,
			sorted(hole, days("Leeds", "2022-03-26", "2022-04-10"), []string{"silent 2022-04-10 error"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := percolate(t, dir, url, append([]string{"check-sources", "--output", "json"}, c.args...)...)
			if got := findings(t, r); r.code != c.code || !slices.Equal(got, c.want) {
				t.Errorf("exit %d, found:\n  %s\nwant exit %d and:\n  %s", r.code, strings.Join(got, "\n  "), c.code, strings.Join(c.want, "\n  "))
			}
		})
	}
	r = percolate(t, dir, url, append([]string{"run", "--as-of", "2022-05-01"}, sources...)...)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "delivery expectations unmet: 1 of severity error (transactions: no files from any branch since 2022-04-10 (21 days ago))") {
		t.Errorf("a run with every branch silent: exit %d, want %d and the silence said\n%s", r.code, ExitFailure, r.stderr)
	}
	r = percolate(t, dir, url, "check-sources", "--as-of", "2022-05-01")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "transactions: no files from any branch since 2022-04-10 (21 days ago)") ||
		strings.Count(r.stdout, "error:") != 1 {
		t.Errorf("every branch silent: exit %d, want %d and one error naming the day\n%s%s", r.code, ExitFailure, r.stdout, r.stderr)
	}
	if r := percolate(t, dir, url, "check-sources", "--since", "2022-13-01"); r.code != ExitUsage || !strings.Contains(r.stderr, `--since "2022-13-01": want YYYY-MM-DD`) {
		t.Errorf("a bad --since: exit %d, stderr %q", r.code, r.stderr)
	}

	// Leeds closed: retired, it is expected up to its own last day only.
	edit(t, config, "severity: warn}", "severity: warn, retired: [Leeds]}")
	r = percolate(t, dir, url, "check-sources", "--as-of", "2022-04-11", "--output", "json")
	if got := findings(t, r); r.code != ExitOK || !slices.Equal(got, hole) {
		t.Errorf("Leeds retired: exit %d, found %v, want exit 0 and only %v", r.code, got, hole)
	}
	// The source ended on 2022-04-05: checked as of the 6th, whatever today is.
	edit(t, config, "retired: [Leeds]}", "ended: 2022-04-05}")
	r = percolate(t, dir, url, "check-sources", "--output", "json")
	if got, want := findings(t, r), sorted(hole, days("Leeds", "2022-03-26", "2022-04-05"), []string{"stale Leeds 2022-03-25 error"}); r.code != ExitFailure || !slices.Equal(got, want) {
		t.Errorf("ended 2022-04-05: exit %d, found:\n  %s\nwant:\n  %s", r.code, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if r := percolate(t, dir, url, "check-sources"); !strings.Contains(r.stdout, "note:    transactions: its deliveries ended on 2022-04-05 (expect: ended), so it is checked as of the day after") {
		t.Errorf("check-sources does not say the source is checked as of its end:\n%s", r.stdout)
	}

	// A routine check-sources keeps nothing of what it read (it takes no
	// run lock, which would turn away a run starting meanwhile); runs keep
	// it, and so does --full.
	pool := connect(t, url)
	if _, err := pool.Exec(context.Background(), "DELETE FROM percolate.delivered_marks"); err != nil {
		t.Fatal(err)
	}
	marks := func() int64 {
		t.Helper()
		return scalar[int64](t, pool, "SELECT count(*) FROM percolate.delivered_marks")
	}
	percolate(t, dir, url, "check-sources")
	if got := marks(); got != 0 {
		t.Errorf("a routine check-sources kept what it read (%d sources' marks), want nothing kept", got)
	}
	percolate(t, dir, url, "check-sources", "--full")
	if got := marks(); got == 0 {
		t.Errorf("check-sources --full kept nothing, want its sources' marks")
	}
}

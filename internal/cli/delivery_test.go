package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/grafana"
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
	t.Setenv(EnvReaderPassword, "reader pw")
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
	// The sample source's end is not this month's.
	edit(t, filepath.Join(dir, "pipelines.yaml"), ", ended: 2022-03-03}", "}")

	want := []string{
		"missing Birmingham 2022-03-30 warn",
		"missing Leeds 2022-03-20 warn",
		"stale Birmingham 2022-03-29 warn",
		"volume Chesterfield 2022-03-25 warn",
	}
	got := func(r result) []string {
		t.Helper()
		var out struct {
			Expectations []struct{ Source, Kind, Group, Date, Severity, Detail string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		var s []string
		for _, e := range out.Expectations {
			if e.Source != "transactions" || e.Detail == "" {
				t.Errorf("expectation %+v: want source transactions and a detail", e)
			}
			s = append(s, e.Kind+" "+e.Group+" "+e.Date+" "+e.Severity)
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
	// The provisioned alert rules, as Grafana's role runs them, fire for
	// exactly those.
	reader := connect(t, strings.Replace(url, strings.SplitN(strings.TrimPrefix(url, "postgres://"), "@", 2)[0], "percolate_grafana:reader%20pw", 1))
	fired := map[string]string{}
	decl, err := grafana.Load(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range decl.Rules {
		if !strings.Contains(rule.SQL, "health.expectations") {
			continue
		}
		rows, err := reader.Query(context.Background(), "SELECT string_agg(concat_ws(' ', VARIADIC ARRAY(SELECT x FROM jsonb_each_text(to_jsonb(r)) AS j (k, x) ORDER BY k)), ' | ' ORDER BY 1) FROM ("+rule.SQL+") AS r")
		if err != nil {
			t.Fatalf("%s: %v", rule.UID, err)
		}
		for rows.Next() {
			var s *string
			rows.Scan(&s)
			if s != nil {
				fired[rule.UID] = *s
			}
		}
		rows.Close()
	}
	for _, w := range []string{"Leeds 1 missing", "Birmingham 1 missing", "Birmingham 1 stale"} {
		if !strings.Contains(fired["percolate-branch-missing"], w) || strings.Count(fired["percolate-branch-missing"], "|") != 2 {
			t.Errorf("the missing-branch alert fired for %q, want exactly Leeds missing, Birmingham missing and stale", fired["percolate-branch-missing"])
		}
	}
	if v := fired["percolate-volume"]; !strings.Contains(v, "Chesterfield 2022-03-25") || strings.Contains(v, "|") {
		t.Errorf("the volume alert fired for %q, want Chesterfield 2022-03-25 only", v)
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

// TestRunReportAndNotify: --output json gives the run as one object, and
// PERCOLATE_NOTIFY_URL receives that object when a run fails, once, and
// nothing when it succeeds; a notification endpoint that is down costs a
// warning, never the run's own exit code.
func TestRunReportAndNotify(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	var mu sync.Mutex
	var posts [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, b)
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv(EnvNotifyURL, srv.URL)
	writeFile(t, filepath.Join(dir, "testdata/cafe/layout_a/york_01-03-2022_09-00-00.csv"), "timestamp,branch,customer,basket,total,payment,card\n")

	type report struct {
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
		Files    struct{ Loaded, Refused int }
		Refused  []struct{ Path, Reason string }
		Rows     struct{ Loaded int64 }
		Models   struct {
			Built   []struct{ Model string }
			Skipped []string
		}
	}
	r := percolate(t, dir, url, "run", "--output", "json")
	var got report
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("run --output json: %v\n%s", err, r.stdout)
	}
	if r.code != ExitFailure || got.ExitCode != ExitFailure || !strings.Contains(got.Error, "files refused") || got.Files.Refused != 1 ||
		len(got.Refused) != 1 || !strings.Contains(got.Refused[0].Reason, "no data rows") || got.Rows.Loaded == 0 || len(got.Models.Built) != models(t) {
		t.Errorf("exit %d, report %+v", r.code, got)
	}
	mu.Lock()
	if len(posts) != 1 || !bytes.Contains(posts[0], []byte(`"exit_code":1`)) {
		t.Errorf("the notify URL got %d posts (%q), want the failed run's report", len(posts), posts)
	}
	mu.Unlock()

	if r := percolate(t, dir, url, "run"); r.code != ExitOK {
		t.Fatalf("the next run: exit %d\n%s", r.code, r.stderr)
	}
	mu.Lock()
	if len(posts) != 1 {
		t.Errorf("a run that succeeded notified: %d posts", len(posts))
	}
	mu.Unlock()

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	t.Setenv(EnvNotifyURL, down.URL)
	writeFile(t, filepath.Join(dir, "testdata/cafe/layout_a/derby_01-03-2022_09-00-00.csv"), "not,a,cafe,file\n")
	r = percolate(t, dir, url, "run")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "could not tell "+EnvNotifyURL) {
		t.Errorf("with the endpoint down: exit %d, stderr %q; want the run's exit 1 and a warning", r.code, r.stderr)
	}
}

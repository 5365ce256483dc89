package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// event is one line of the JSON log, named by its message and, for a
// phase's start or end, the phase: "file", "model", "start publishing",
// "done loading", "published".
type event struct {
	Msg   string `json:"msg"`
	Phase string `json:"phase"`
}

func (e event) kind() string {
	if e.Phase != "" {
		return e.Msg + " " + e.Phase
	}
	return e.Msg
}

// killPoint is the n-th event of a kind: where a kill lands.
type killPoint struct {
	kind string
	n    int
}

func (k killPoint) String() string { return fmt.Sprintf("%s#%d", k.kind, k.n) }

// logged is what a command run with the JSON log did.
type logged struct {
	seen   []killPoint // the kind and occurrence of every event, in order
	stdout string
	errors string // stderr's lines that are not events
	code   int
}

// events runs the binary with args and the JSON log; at, when set, is
// called after each event with its kind and occurrence, and stops reading
// events when it says so (the caller signalled the process). The process
// is waited for either way.
func events(t *testing.T, bin string, args []string, at func(killPoint, *exec.Cmd) bool) logged {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "PERCOLATE_HASH_KEY=cli test key")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out logged
	var text strings.Builder
	count := map[string]int{}
	sc := bufio.NewScanner(stderr)
	stopped := false
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Msg == "" {
			text.WriteString(sc.Text() + "\n")
			continue
		}
		if stopped {
			continue
		}
		count[e.kind()]++
		p := killPoint{e.kind(), count[e.kind()]}
		out.seen = append(out.seen, p)
		stopped = at != nil && at(p, cmd)
	}
	cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("percolate %v: still running after 3 minutes", args)
	}
	out.stdout, out.errors, out.code = stdout.String(), text.String(), cmd.ProcessState.ExitCode()
	return out
}

// killPoints are where the kill test lands, from a clean run's events: the
// first file committed and the end of each chunk's load, after every model
// built in the first chunk (each early build committed beside the live
// relations) and the first of every later one, before and after every
// publish.
func killPoints(seen []killPoint) []killPoint {
	var out []killPoint
	models := 0
	chunk := 1
	for _, p := range seen {
		switch p.kind {
		case "file":
			if p.n == 1 {
				out = append(out, p)
			}
		case "model":
			models++
			if chunk == 1 || models == 1 {
				out = append(out, p)
			}
		case "done loading", "start publishing":
			out = append(out, p)
		case "published":
			out = append(out, p)
			chunk++
			models = 0
		}
	}
	return out
}

// chunkedBackfill writes six days of files of branches (orders a file,
// seeded) and builds the binary; backfill gives the arguments of a
// backfill of those days into url in chunks of three days, waiting for
// the run lock (a killed run's server may hold it a moment longer). Its
// [4:] are the same arguments without -C and --database-url, for mustRun.
func chunkedBackfill(t *testing.T, branches, orders int, seed uint64) (bin string, backfill func(url string) []string) {
	t.Helper()
	data := t.TempDir()
	from := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: generate.Branches(branches),
		From: from, To: from.AddDate(0, 0, 5), Orders: orders, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return buildPercolate(t), func(url string) []string {
		return []string{"-C", root, "--database-url", url, "backfill", "--wait", "--from", "2023-03-01", "--to", "2023-03-06", "--publish-every", "3",
			"--source", "transactions=" + filepath.Join(data, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(data, "none-*.csv")}
	}
}

// TestKillAnywhere backfills a generated fortnight in chunks with the JSON
// log, and kills it (SIGKILL) right after each kind of event it reports;
// after each kill, the next backfill converges to the warehouse a clean
// backfill builds, leaves no relation beside the live ones, and closes the
// killed run as abandoned with the files the manifest holds for it.
func TestKillAnywhere(t *testing.T) {
	bin, backfill := chunkedBackfill(t, 3, 30, 41)
	clean := pgtest.URL(t)
	points := killPoints(events(t, bin, backfill(clean), nil).seen)
	if len(points) < 8 {
		t.Fatalf("a clean backfill reported too few events to kill at: %v", points)
	}
	want := snapshot(t, clean)
	for _, at := range points {
		t.Run(at.String(), func(t *testing.T) {
			url := pgtest.URL(t)
			killed := false
			events(t, bin, backfill(url), func(p killPoint, cmd *exec.Cmd) bool {
				if p == at {
					killed = cmd.Process.Kill() == nil
				}
				return killed
			})
			if !killed {
				t.Fatalf("the backfill ended without reporting %s", at)
			}
			mustRun(t, root, url, backfill(url)[4:]...)
			assertConverged(t, url, want)
		})
	}
}

// assertConverged holds the warehouse at url to a clean one's snapshot,
// with nothing left beside the live relations and every killed run closed.
func assertConverged(t *testing.T, url string, want map[string]string) {
	t.Helper()
	got := snapshot(t, url)
	for rel, w := range want {
		if got[rel] != w {
			t.Errorf("%s: after the kill and a rerun %s, a clean backfill %s", rel, got[rel], w)
		}
	}
	pool := connect(t, url)
	if left := scalar[string](t, pool, `SELECT coalesce(string_agg(oid::regclass::text, ', '), '') FROM pg_class WHERE relname LIKE '%\_\_next'`); left != "" {
		t.Errorf("left beside the live relations: %s", left)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.runs WHERE status = 'running'`); n != 0 {
		t.Errorf("%d run(s) still recorded as running", n)
	}
	if bad := scalar[string](t, pool, `SELECT coalesce(string_agg(format('run %s: %s files, %s rows, the manifest %s and %s', r.run_id, r.files_loaded, r.rows_loaded, f.files, f.rows), '; '), '')
		FROM percolate.runs r, LATERAL (SELECT count(*) AS files, coalesce(sum(rows_loaded), 0) AS rows FROM percolate.files
		    WHERE run_id = r.run_id AND status IN ('loaded', 'replaced')) f
		WHERE r.status = 'abandoned' AND (r.files_loaded <> f.files OR r.rows_loaded <> f.rows)`); bad != "" {
		t.Errorf("abandoned runs' counts differ from the manifest's: %s", bad)
	}
}

// TestInterruptIsHonest interrupts a backfill (SIGINT) after its load,
// during its first chunk's build, and after its first chunk's publish:
// each time it exits 130, says exactly what was published, which the marts
// bear out, records the run as interrupted, and the same command resumes
// to the warehouse a clean backfill builds.
func TestInterruptIsHonest(t *testing.T) {
	bin, backfill := chunkedBackfill(t, 2, 20, 43)
	clean := pgtest.URL(t)
	mustRun(t, root, clean, backfill(clean)[4:]...)
	want := snapshot(t, clean)
	published := regexp.MustCompile(`published (\d{4}-\d\d-\d\d)(?: … (\d{4}-\d\d-\d\d))?;`)
	for _, tt := range []struct {
		at   killPoint
		want string // what the message says of the first chunk
	}{
		{killPoint{"done loading", 1}, "interrupted: nothing of this chunk (2023-03-01 … 2023-03-03) was published; run the same command to resume"},
		{killPoint{"model", 3}, "interrupted: nothing of this chunk (2023-03-01 … 2023-03-03) was published; run the same command to resume"},
		{killPoint{"published", 1}, "interrupted: published 2023-03-01 … 2023-03-03; "},
	} {
		t.Run(tt.at.String(), func(t *testing.T) {
			url := pgtest.URL(t)
			out := events(t, bin, backfill(url), func(p killPoint, cmd *exec.Cmd) bool {
				if p == tt.at {
					cmd.Process.Signal(syscall.SIGINT)
					return true
				}
				return false
			})
			if out.code != ExitInterrupted || !strings.Contains(out.errors, tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d saying %q", out.code, out.errors, ExitInterrupted, tt.want)
			}
			pool := connect(t, url)
			// What the marts hold is what the message says was published.
			var last string
			if m := published.FindStringSubmatch(out.errors); m != nil {
				last = cmp.Or(m[2], m[1])
			}
			if scalar[bool](t, pool, `SELECT to_regclass('marts.branch_daily_sales') IS NOT NULL`) || last != "" {
				if got := scalar[string](t, pool, `SELECT coalesce(max(sales_date)::text, '') FROM marts.branch_daily_sales`); got != last {
					t.Errorf("the marts end on %q, the message says published through %q", got, last)
				}
			}
			if strings.Count(out.stdout, "published ") != strings.Count(out.errors, "interrupted: published") {
				t.Errorf("stdout tells of a publish the message does not:\n%s", out.stdout)
			}
			// The run under way is interrupted; one between chunks never began.
			runs := scalar[string](t, pool, `SELECT string_agg(status, ' ' ORDER BY run_id) FROM percolate.runs`)
			if strings.Contains(runs, "failed") || strings.Contains(runs, "running") || !strings.HasSuffix(runs, "interrupted") && last == "" {
				t.Errorf("the runs are recorded %q, want the last interrupted and none failed\nstderr:\n%s", runs, out.errors)
			}
			mustRun(t, root, url, backfill(url)[4:]...)
			assertConverged(t, url, want)
		})
	}
}

package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ledgerDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	if _, err := Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestReady(t *testing.T) {
	ctx := context.Background()
	var s Store
	empty, _ := pgtest.Pool(t)
	if ok, err := s.Ready(ctx, empty); err != nil || ok {
		t.Errorf("an empty database: got ready %v (%v), want false", ok, err)
	}
	if ok, err := s.Ready(ctx, ledgerDB(t)); err != nil || !ok {
		t.Errorf("after the migrations: got ready %v (%v), want true", ok, err)
	}
}

// TestManifest claims, finishes and replaces files the way the loader
// does: known content is not claimed again, new content at a known path
// retires the old, and the state of a source changes with every load.
func TestManifest(t *testing.T) {
	ctx := context.Background()
	pool := ledgerDB(t)
	var s Store
	run, err := s.StartRun(ctx, pool, "cafe", "run")
	if err != nil {
		t.Fatal(err)
	}
	f := File{RunID: run, Source: "tx", Path: "a.csv", Size: 10, Hash: "h1"}
	first, claimed, err := s.ClaimFile(ctx, pool, f)
	if err != nil || !claimed {
		t.Fatalf("first claim: %v, %v", claimed, err)
	}
	if _, err := s.FinishFile(ctx, pool, Loaded{LoadID: first, Source: "tx", Path: "a.csv", Days: []time.Time{day("2022-03-01")}, Rows: 3}); err != nil {
		t.Fatal(err)
	}
	before, err := s.SourceStates(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "copy-of-a.csv", Size: 10, Hash: "h1"}); err != nil || claimed {
		t.Errorf("the same content again: claimed %v (%v), want false", claimed, err)
	}
	if have, err := s.KnownHashes(ctx, pool, "tx", "", []string{"h1", "h9"}); err != nil || have["h1"] != (Known{}) || len(have) != 1 {
		t.Errorf("known hashes: %v (%v), want h1", have, err)
	}

	second, claimed, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "a.csv", Size: 12, Hash: "h2"})
	if err != nil || !claimed {
		t.Fatalf("changed content: %v, %v", claimed, err)
	}
	retired, err := s.FinishFile(ctx, pool, Loaded{LoadID: second, Source: "tx", Path: "a.csv", Days: []time.Time{day("2022-03-02")}, Rows: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(retired.LoadIDs, []int64{first}) || len(retired.Days) != 1 || !retired.Days[0].Equal(day("2022-03-01")) {
		t.Errorf("retired %+v, want [%d] with its day 2022-03-01", retired, first)
	}
	after, err := s.SourceStates(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if after["tx"] == before["tx"] {
		t.Errorf("source state %q did not change with a replaced file", after["tx"])
	}
	if w, err := s.Watermark(ctx, pool); err != nil || w != second {
		t.Errorf("watermark %d (%v), want %d", w, err, second)
	}

	rejects := []Reject{{Line: 3, Col: 5, Column: "total", Reason: "is empty", Raw: "a,***,,"}, {Line: 9, Reason: "2 fields", Raw: "***"}}
	if err := s.AddRejects(ctx, pool, second, "tx", "a.csv", rejects); err != nil {
		t.Fatal(err)
	}
	kept, err := s.Rejects(ctx, pool, RejectFilter{Source: "tx", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0].Line != 3 || kept[0].Column != "5 (total)" || kept[1].Column != "" {
		t.Errorf("rejects: got %+v", kept)
	}

	if err := s.FinishRun(ctx, pool, RunOutcome{ID: run, Status: RunFailed, FilesLoaded: 2, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	var status, msg string
	if err := pool.QueryRow(ctx, `SELECT status, error FROM percolate.runs WHERE run_id = $1`, run).Scan(&status, &msg); err != nil || status != RunFailed || msg != "boom" {
		t.Errorf("run: %s %q (%v), want failed boom", status, msg, err)
	}
}

// TestRefusedAndReplayed: a refused content is known, with its reason,
// under the contract that refused it and not under another; content
// loaded with rejects under an older contract is read again, and its new
// load retires the old one; clean content stays known whatever the
// contract.
func TestRefusedAndReplayed(t *testing.T) {
	ctx := context.Background()
	pool := ledgerDB(t)
	var s Store
	bad := Refusal{File: File{Source: "tx", Path: "bad.csv", Size: 5, Hash: "hb", Contract: "c1"}, Reason: "no data rows"}
	if err := s.RecordRefused(ctx, pool, bad); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRefused(ctx, pool, bad); err != nil {
		t.Fatalf("the same refusal twice: %v", err)
	}
	if k, err := s.KnownHashes(ctx, pool, "tx", "c1", []string{"hb"}); err != nil || k["hb"] != (Known{Refused: true, Reason: "no data rows"}) {
		t.Errorf("refused under c1: %+v (%v)", k, err)
	}
	if k, err := s.KnownHashes(ctx, pool, "tx", "c2", []string{"hb"}); err != nil || len(k) != 0 {
		t.Errorf("refused under c1, asked under c2: %+v (%v), want unknown", k, err)
	}
	// New content at the refused path takes its place.
	fixed, _, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "bad.csv", Hash: "hb2", Contract: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishFile(ctx, pool, Loaded{LoadID: fixed, Source: "tx", Path: "bad.csv", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Files(ctx, pool, FileFilter{Status: "refused", Limit: 10}); err != nil || len(list) != 0 {
		t.Errorf("refused files after the fix: %+v (%v), want none", list, err)
	}

	clean, _, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "clean.csv", Hash: "hc", Contract: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	dirty, _, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "dirty.csv", Hash: "hd", Contract: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishFiles(ctx, pool, []Loaded{{LoadID: clean, Source: "tx", Path: "clean.csv", Rows: 3},
		{LoadID: dirty, Source: "tx", Path: "dirty.csv", Days: []time.Time{day("2022-03-01")}, Rows: 2, Rejected: 1}}); err != nil {
		t.Fatal(err)
	}
	k, err := s.KnownHashes(ctx, pool, "tx", "c2", []string{"hc", "hd"})
	if err != nil || len(k) != 1 || k["hc"] != (Known{}) {
		t.Errorf("under c2: %+v (%v), want only the clean content known", k, err)
	}
	replay, claimed, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "dirty.csv", Hash: "hd", Contract: "c2"})
	if err != nil || !claimed {
		t.Fatalf("replay claimed %v (%v)", claimed, err)
	}
	retired, err := s.FinishFile(ctx, pool, Loaded{LoadID: replay, Source: "tx", Path: "dirty.csv", Days: []time.Time{day("2022-03-01")}, Rows: 3})
	if err != nil || !slices.Equal(retired.LoadIDs, []int64{dirty}) {
		t.Errorf("the replay retired %+v (%v), want [%d]", retired, err, dirty)
	}
	if _, claimed, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: "dirty.csv", Hash: "hd", Contract: "c2"}); err != nil || claimed {
		t.Errorf("the same replay again: claimed %v (%v), want false: exactly once", claimed, err)
	}
}

// TestStaleDays: days whose files are newer than a build's watermark, and
// days with data but no interval, are stale; an interval at another version
// counts only when versions matter.
func TestStaleDays(t *testing.T) {
	ctx := context.Background()
	pool := ledgerDB(t)
	var s Store
	load := func(path, hash string, days ...string) int64 {
		t.Helper()
		id, _, err := s.ClaimFile(ctx, pool, File{Source: "tx", Path: path, Hash: hash})
		if err != nil {
			t.Fatal(err)
		}
		var ds []time.Time
		for _, d := range days {
			ds = append(ds, day(d))
		}
		if _, err := s.FinishFile(ctx, pool, Loaded{LoadID: id, Source: "tx", Path: path, Days: ds}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := load("a.csv", "a", "2022-03-01", "2022-03-02")
	if err := s.ResetIntervals(ctx, pool, "m.x", "v1", 0, []string{"tx"}); err != nil {
		t.Fatal(err)
	}
	stale := func(st Stale) []string {
		t.Helper()
		days, err := s.StaleDays(ctx, pool, st)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range days {
			out = append(out, d.Format(time.DateOnly))
		}
		return out
	}
	base := Stale{Model: "m.x", Version: "v1", Sources: []string{"tx"}, Watermark: first}
	if got := stale(base); len(got) != 0 {
		t.Errorf("right after a full build: stale %v, want none", got)
	}
	load("b.csv", "b", "2022-03-03")
	if got := stale(base); !slices.Equal(got, []string{"2022-03-03"}) {
		t.Errorf("after a new file: stale %v, want 2022-03-03", got)
	}
	if err := s.AddIntervals(ctx, pool, "m.x", "v2", 0, []string{"2022-03-02", "2022-03-03"}); err != nil {
		t.Fatal(err)
	}
	v2 := Stale{Model: "m.x", Version: "v2", Sources: []string{"tx"}, Watermark: first + 1, Versioned: true}
	if got := stale(v2); !slices.Equal(got, []string{"2022-03-01"}) {
		t.Errorf("at v2: stale %v, want the day still at v1", got)
	}
	v2.From = day("2022-03-02")
	if got := stale(v2); len(got) != 0 {
		t.Errorf("at v2 from 2022-03-02: stale %v, want none", got)
	}
}

func TestBuildsChecksAndKey(t *testing.T) {
	ctx := context.Background()
	pool := ledgerDB(t)
	var s Store
	now := time.Now().Truncate(time.Millisecond)
	var run int64
	for i, v := range []string{"v1", "v2"} { // a build per run, the newest last
		var err error
		if run, err = s.StartRun(ctx, pool, "cafe", "run"); err != nil {
			t.Fatal(err)
		}
		b := Build{Model: "core.x", Version: v, OwnVersion: "o" + v, Materialization: "table", Rows: 7,
			Started: now, Finished: now.Add(time.Duration(i+1) * time.Second), Inputs: "in", Watermark: 3}
		if err := s.RecordBuild(ctx, pool, run, b); err != nil {
			t.Fatal(err)
		}
	}
	last, err := s.LastBuilds(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if b := last["core.x"]; b.Version != "v2" || b.OwnVersion != "ov2" || b.Rows != 7 || b.Exists {
		t.Errorf("last build: %+v, want v2 with 7 rows and no relation", b)
	}

	sample := []json.RawMessage{json.RawMessage(`{"id": 1}`)}
	if err := s.RecordChecks(ctx, pool, run, []Check{{Model: "core.x", Name: "unique(id)", Severity: "error", Failures: 2, Sample: sample}, {Model: "core.x", Name: "not_null(id)", Severity: "warn"}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM percolate.check_results WHERE run_id = $1 AND jsonb_typeof(sample) = 'array'`, run).Scan(&n); err != nil || n != 2 {
		t.Errorf("check results: %d with a sample array (%v), want 2", n, err)
	}

	got, err := s.KeyFingerprint(ctx, pool, "fp1")
	if err != nil || got != "fp1" {
		t.Fatalf("first fingerprint: %q (%v)", got, err)
	}
	if got, err := s.KeyFingerprint(ctx, pool, "fp2"); err != nil || got != "fp1" {
		t.Errorf("a second key: got %q (%v), want the first one kept", got, err)
	}
}

// TestErrorsNameTheOperation asks a database without the ledger: each
// error says which of the ledger's operations failed, and keeps the
// server's error for errors.As.
func TestErrorsNameTheOperation(t *testing.T) {
	ctx := context.Background()
	var s Store
	empty, _ := pgtest.Pool(t)
	for _, c := range []struct {
		op   string
		call func() error
	}{
		{"ledger: claim files: ", func() error {
			_, err := s.ClaimFiles(ctx, empty, []File{{Source: "a", Path: "a.csv", Hash: "h"}})
			return err
		}},
		{"ledger: find known hashes: ", func() error {
			_, err := s.KnownHashes(ctx, empty, "a", "c", []string{"h"})
			return err
		}},
		{"ledger: read last builds: ", func() error {
			_, err := s.LastBuilds(ctx, empty)
			return err
		}},
		{"ledger: list rejects: ", func() error {
			_, err := s.Rejects(ctx, empty, RejectFilter{})
			return err
		}},
		{"ledger: record the run's start: ", func() error {
			_, err := s.StartRun(ctx, empty, "p", "run")
			return err
		}},
	} {
		t.Run(c.op, func(t *testing.T) {
			err := c.call()
			if err == nil || !strings.HasPrefix(err.Error(), c.op) {
				t.Fatalf("got %v, want an error starting %q", err, c.op)
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
				t.Errorf("got %v, want the server's undefined_table (42P01) kept inside", err)
			}
		})
	}
}

// TestSameState: a source's state recorded by an earlier release
// (count/newest/sum) tells the same loaded files as its newest load id,
// so that an upgrade rebuilds nothing; a newer load is new data.
func TestSameState(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"120", "120", true},
		{"3/120/300", "120", true},
		{"3/120/300", "121", false},
		{"120", "121", false},
		{"", "", true},
		{"", "120", false},
	} {
		if got := SameState(tt.a, tt.b); got != tt.want {
			t.Errorf("SameState(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

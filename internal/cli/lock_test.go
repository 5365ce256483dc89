package cli

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

// TestLostLockPublishesNothing ends the run lock's session while a run
// builds (as a server restart of that backend, or a network cut, would):
// another run could take the lock then, so the run must not publish. It
// fails naming the lost lock, the marts stay as the previous run left
// them, and the next run publishes the new day.
func TestLostLockPublishesNothing(t *testing.T) {
	ctx := context.Background()
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	before := snapshot(t, url)
	day := time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: filepath.Join(dir, "testdata/cafe/layout_a"), Layout: generate.LayoutA,
		Branches: []string{"York"}, From: day, To: day, Orders: 40, Seed: 9}); err != nil {
		t.Fatal(err)
	}

	p, err := project.Open(dir, project.Options{DatabaseURL: url, HashKey: "cli test key"})
	if err != nil {
		t.Fatal(err)
	}
	runPool, err := p.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer runPool.Close()
	ended := false
	endLock := func(e build.Event) {
		if e.Kind != build.Publishing || ended {
			return
		}
		ended = true
		// The session holding percolate.run_lock, ended and waited for.
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(l.pid, 10000))
			FROM pg_locks AS l WHERE l.relation = 'percolate.run_lock'::regclass AND l.granted`).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("ending the lock's session: %d ended, %v", n, err)
		}
	}
	_, err = p.Run(ctx, runPool, project.RunOptions{Pipeline: "cafe", OnBuild: endLock})
	if !errors.Is(err, pg.ErrLockLost) || !strings.Contains(err.Error(), "nothing was published") {
		t.Fatalf("run with its lock lost: got %v, want the lost lock and nothing published", err)
	}
	if !ended {
		t.Fatal("the run never reached its publish")
	}
	if after := snapshot(t, url); after["marts.branch_daily_sales"] != before["marts.branch_daily_sales"] {
		t.Errorf("a run that lost its lock published the marts:\nbefore %v\nafter  %v", before, after)
	}
	mustRun(t, dir, url, "run")
	if after := snapshot(t, url); after["marts.branch_daily_sales"] == before["marts.branch_daily_sales"] {
		t.Error("the next run did not publish the marts")
	}
}

// Package pgtest gives tests a real PostgreSQL: one throwaway cluster per
// test binary, started from the machine's PostgreSQL binaries, and a fresh
// database per test. Set PERCOLATE_TEST_DATABASE_URL to use a server of your
// own instead (the tests create and drop databases on it).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
)

// EnvURL names a server for the tests to use instead of their own cluster.
const EnvURL = "PERCOLATE_TEST_DATABASE_URL"

var (
	adminURL string
	own      *server // the binary's own cluster, when it started one
	counter  atomic.Int64
	// cleanups run when the tests end, last first: servers started on
	// demand (CitusURL) stop.
	cleanups []func()
)

// Main starts the cluster, runs the tests and removes the cluster. Call it
// from TestMain. A missing PostgreSQL fails the whole binary: tests never
// skip for want of a database.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	if u := os.Getenv(EnvURL); u != "" {
		adminURL = u
		return m.Run()
	}
	// Servers of test binaries that timed out or were killed: the sweep
	// stops them before this binary adds its own.
	stopped, err := Sweep(Records())
	for _, s := range stopped {
		fmt.Fprintln(os.Stderr, "pgtest: stopped", s)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: sweep:", err)
	}
	dir, err := os.MkdirTemp("", "percolate-test-pg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	// The server's user must reach it: a folder it cannot reach would keep
	// the cluster under pg.Moved instead, where nothing removes it.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	s, err := startServer(context.Background(), dir, nil, dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	cleanups = append(cleanups, func() { s.child.Stop() })
	own = s
	adminURL = s.admin
	return m.Run()
}

// URL creates a fresh, empty database for this test, dropped when the test
// ends, and returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	if adminURL == "" {
		t.Fatal("pgtest: no database server; call pgtest.Main from TestMain")
	}
	return freshDatabase(t, adminURL, fmt.Sprintf("t%d_%d", os.Getpid(), counter.Add(1)))
}

// freshDatabase creates database name on the server at admin, dropped
// when the test ends, and returns its URL.
func freshDatabase(t testing.TB, admin, name string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool opens a pool on a fresh database, closed when the test ends.
func Pool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	u := URL(t)
	pool, err := pg.Connect(context.Background(), u)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, u
}

// Quote is pgx.Identifier for one name, for tests that build SQL.
func Quote(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// WaitForCopy returns once a COPY on the database has sent rows, by asking
// the server (pg_stat_progress_copy), not by waiting a while. done closing
// first means the work ended before any COPY was seen.
func WaitForCopy(t testing.TB, pool *pgxpool.Pool, done <-chan struct{}) {
	t.Helper()
	Eventually(t, 2*time.Minute, "a COPY to send rows", func() bool {
		select {
		case <-done:
			t.Fatal("pgtest: the work finished before any COPY was seen")
		default:
		}
		var n int64
		if err := pool.QueryRow(context.Background(), `SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
}

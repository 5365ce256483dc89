package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCluster drives one real embedded cluster through what users do to
// it: start it twice at once, stop it, crash it (a stale pid file), start it
// again; it must answer every time.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	dir := tempDir(t)
	c := newCluster(t, dir)

	ping := func(t *testing.T) {
		t.Helper()
		u, err := c.URL()
		if err != nil {
			t.Fatal(err)
		}
		pool, err := Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var user string
		if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("two starts at once", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				other, _ := NewCluster(dir)
				other.Durable = false
				errs[i] = other.Start(ctx)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		ping(t)
	})
	t.Run("start when running", func(t *testing.T) {
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ping(t)
	})
	t.Run("listens on loopback with a password", func(t *testing.T) {
		s, err := c.URL()
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(s)
		if u.Hostname() != "127.0.0.1" {
			t.Errorf("listens on %s, want 127.0.0.1", u.Hostname())
		}
		u.User = url.UserPassword("percolate", "wrong")
		if _, err := Connect(ctx, u.String()); err == nil {
			t.Error("a wrong password was accepted")
		}
	})
	t.Run("stop and start", func(t *testing.T) {
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if c.Running(ctx) {
			t.Fatal("running after stop")
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ping(t)
	})
	t.Run("stale pid file after a crash", func(t *testing.T) {
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		// A crash leaves postmaster.pid naming a pid that is now another
		// process: this test's own.
		pidFile := filepath.Join(dir, "data", "postmaster.pid")
		stale := fmt.Sprintf("%d\n%s\n", os.Getpid(), filepath.Join(dir, "data"))
		if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ping(t)
	})
}

// tempDir is a t.TempDir that the postgres user can reach when the test
// runs as root.
func tempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestUnreachableDir: as root, a project folder the postgres user cannot
// reach keeps its cluster under Moved, and finds it there again.
func TestUnreachableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	dir := filepath.Join(t.TempDir(), "project", ".percolate", "pg") // its parent is 0700, root's
	c := newCluster(t, dir)
	t.Cleanup(func() { os.RemoveAll(c.Dir) })
	if !strings.HasPrefix(c.Dir, Moved+"/") {
		t.Fatalf("cluster of %s kept in %s, want it under %s", dir, c.Dir, Moved)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := NewCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Dir != c.Dir || !again.Running(ctx) {
		t.Errorf("found again in %s (running: %v), want %s", again.Dir, again.Running(ctx), c.Dir)
	}
	u, err := c.URL()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// newCluster is a test cluster in dir, stopped when the test ends.
func newCluster(t *testing.T, dir string) *Cluster {
	t.Helper()
	c, err := NewCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Durable = false
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, tempDir(t))
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	u, _ := c.URL()
	a, _ := Connect(ctx, u)
	b, _ := Connect(ctx, u)
	defer a.Close()
	defer b.Close()
	// Advisory locks anyone may take, on any key, stop no run.
	if _, err := b.Exec(ctx, "SELECT pg_advisory_lock(k) FROM generate_series(-5, 5) AS k"); err != nil {
		t.Fatal(err)
	}
	held, err := Lock(ctx, a, "run", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(ctx, b, "run", false); !errors.Is(err, ErrBusy) {
		t.Errorf("second lock: got %v, want ErrBusy", err)
	}
	// Held in an idle transaction that holds back no vacuum.
	var holders, xmins int
	if err := b.QueryRow(ctx, `SELECT count(*), count(backend_xmin) + count(backend_xid) FROM pg_stat_activity
		WHERE state = 'idle in transaction' AND query LIKE 'LOCK TABLE%'`).Scan(&holders, &xmins); err != nil {
		t.Fatal(err)
	}
	if holders != 1 || xmins != 0 {
		t.Errorf("sessions holding the lock: got %d, with %d xmin or xid; want 1, with 0", holders, xmins)
	}
	held.Release()
	held2, err := Lock(ctx, b, "run", false)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	held2.Release()
}

func TestBinariesFor(t *testing.T) {
	lib := t.TempDir()
	for _, v := range []string{"14", "15"} {
		if err := os.MkdirAll(filepath.Join(lib, v, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lib, v, "bin", "initdb"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	v15, v16 := filepath.Join(lib, "15", "bin"), filepath.Join(lib, "16", "bin")
	for _, tc := range []struct {
		name       string
		want       int
		found, got string
		err        string
	}{
		{"no data yet", 0, v16, v16, ""},
		{"same version", 15, v15, v15, ""},
		{"older data, its binaries installed", 14, v16, filepath.Join(lib, "14", "bin"), ""},
		{"older data, its binaries gone", 13, v16, "", "its data is PostgreSQL 13 and this machine has PostgreSQL 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := binariesFor(tc.want, tc.found, lib)
			if got != tc.got || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %q, %v; want %q, %q", got, err, tc.got, tc.err)
			}
		})
	}
}

package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/pg"
)

// testSettings size a test cluster for tests, not for the machine: the
// embedded cluster's own settings give a quarter of memory to
// shared_buffers, and every test binary (and each Citus node) starts one.
var testSettings = []pg.Setting{
	{Name: "shared_buffers", Value: "128MB", Why: "test data is small; several test binaries run at once"},
	{Name: "wal_buffers", Value: "4MB", Why: "shared memory too"},
	{Name: "effective_cache_size", Value: "1GB", Why: "the planner's guess, sized like the rest"},
	{Name: "maintenance_work_mem", Value: "64MB", Why: "small indexes"},
	{Name: "max_wal_size", Value: "1GB", Why: "the temporary folder holds the WAL"},
	{Name: "max_connections", Value: "64", Why: "a test holds a few pools of four at most"},
}

// server is a test cluster run as this binary's child.
type server struct {
	child *Child
	admin string // URL of its postgres database
}

// startServer makes a cluster under dir with the test settings and extra,
// runs its server as a child of this binary (see StartChild), and waits
// for it to take connections. Stopping the child removes remove, which
// should hold dir, and the cluster's folder wherever it was kept.
func startServer(ctx context.Context, dir string, extra []pg.Setting, remove string) (*server, error) {
	c, err := pg.NewCluster(dir)
	if err != nil {
		return nil, err
	}
	c.Durable = false
	c.Extra = append(append([]pg.Setting{}, testSettings...), extra...)
	return launch(ctx, c, remove, c.Dir)
}

// launch runs c's server as a child of this binary that removes dirs
// when it is stopped, and waits for it to take connections.
func launch(ctx context.Context, c *pg.Cluster, dirs ...string) (*server, error) {
	cmd, err := c.Command(ctx)
	if err != nil {
		return nil, err
	}
	logFile := filepath.Join(c.Dir, "server.log")
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	child, err := StartChild(cmd, syscall.SIGQUIT, dirs...)
	log.Close() // the server has its own
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL in %s: %w", c.Dir, err)
	}
	u, err := c.URL()
	if err != nil {
		child.Stop()
		return nil, err
	}
	admin, _ := url.Parse(u)
	admin.Path = "/postgres"
	s := &server{child: child, admin: admin.String()}
	ready := poll(time.Minute, func() bool {
		select {
		case <-child.Done():
			return true
		default:
		}
		conn, err := pgx.Connect(ctx, s.admin)
		if err != nil {
			return false
		}
		conn.Close(ctx)
		return true
	})
	select {
	case <-child.Done():
		b, _ := os.ReadFile(logFile)
		child.Stop()
		return nil, fmt.Errorf("PostgreSQL in %s ended at start-up (%v): %s", c.Dir, child.err, b)
	default:
	}
	if !ready {
		child.Stop()
		return nil, fmt.Errorf("PostgreSQL in %s took no connection within a minute (its log: %s)", c.Dir, logFile)
	}
	return s, nil
}

// Crashable is a server a test may crash (PostgreSQL's immediate
// shutdown: no checkpoint, its clients cut off) and start again on the
// same data, to test what survives a crash. It is durable like the
// embedded cluster, sized for tests, and a child of the test binary like
// every test server: it dies with it and is swept after it.
type Crashable struct {
	t       testing.TB
	cluster *pg.Cluster
	dir     string
	s       *server
}

// NewCrashable starts a crashable server of the test's own (crashing the
// shared test server would take every other test's database with it); the
// test's end stops it and removes it.
func NewCrashable(t testing.TB) *Crashable {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgtest-crash-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the server's user must reach it
		t.Fatal(err)
	}
	c, err := pg.NewCluster(filepath.Join(dir, "pg"))
	if err != nil {
		t.Fatal(err)
	}
	c.Extra = testSettings
	cr := &Crashable{t: t, cluster: c, dir: dir}
	cr.Start()
	t.Cleanup(func() {
		if cr.s != nil {
			cr.s.child.Stop()
		}
		os.RemoveAll(dir)
	})
	return cr
}

// URL is the server's postgres database.
func (cr *Crashable) URL() string { return cr.s.admin }

// Crash stops the server at once, as pg_ctl stop -m immediate does, and
// waits for it to be gone; its data stays.
func (cr *Crashable) Crash() {
	cr.t.Helper()
	ch := cr.s.child
	ch.Cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-ch.Done():
	case <-time.After(time.Minute):
		cr.t.Fatal("pgtest: the crashed server was still running after a minute")
	}
	os.Remove(ch.file)
	cr.s = nil
}

// Start starts the server on its data (again, after a crash: it recovers).
func (cr *Crashable) Start() {
	cr.t.Helper()
	s, err := launch(context.Background(), cr.cluster, cr.dir)
	if err != nil {
		cr.t.Fatal(err)
	}
	cr.s = s
}

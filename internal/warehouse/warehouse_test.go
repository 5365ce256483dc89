package warehouse

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// citus opens a pool on a fresh database of the test Citus cluster (a
// coordinator and two workers), and returns its URL.
func citus(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	u := pgtest.CitusURL(t)
	return connect(t, u), u
}

func connect(t *testing.T, u string) *pgxpool.Pool {
	t.Helper()
	pool, err := pg.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// as returns the URL u with the user role, password pw.
func as(t *testing.T, u, role, pw string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.UserPassword(role, pw)
	return p.String()
}

func detect(t *testing.T, q Querier) *Engine {
	t.Helper()
	e, err := Detect(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func exec(t *testing.T, q Querier, sql string) {
	t.Helper()
	if _, err := q.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func scalar[T any](t *testing.T, q Querier, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// checkVersion: the version's text and number agree (15.8 is 150008).
func checkVersion(t *testing.T, e *Engine) {
	t.Helper()
	if e.VersionNum < 100000 || !strings.HasPrefix(e.Version, strconv.Itoa(e.VersionNum/10000)+".") {
		t.Errorf("got version %q, number %d: want a number of 10 or later that the text starts with", e.Version, e.VersionNum)
	}
}

// TestDetect: the test cluster is plain PostgreSQL, and says so.
func TestDetect(t *testing.T) {
	pool, _ := pgtest.Pool(t)
	e := detect(t, pool)
	if e.Kind != PostgreSQL || e.IsCitus() || e.Citus != "" || e.Workers != 0 {
		t.Errorf("got %+v, want plain PostgreSQL", e)
	}
	if got := e.Kind.String(); got != "PostgreSQL" {
		t.Errorf("got kind %q, want PostgreSQL", got)
	}
	checkVersion(t, e)
}

// TestCitusDetect: a coordinator with two workers is Citus 13 with two
// workers, also to a role that is no superuser (a run's loader may not
// be one).
func TestCitusDetect(t *testing.T) {
	pool, u := citus(t)
	role := fmt.Sprintf("detect_%d", scalar[int32](t, pool, "SELECT pg_backend_pid()"))
	exec(t, pool, "CREATE ROLE "+role+" LOGIN PASSWORD 'p'")
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	plain := connect(t, as(t, u, role, "p"))
	if got := scalar[bool](t, plain, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"); got {
		t.Fatalf("%s is a superuser", role)
	}
	for _, c := range []struct {
		name string
		q    Querier
	}{{"superuser", pool}, {"plain role", plain}} {
		t.Run(c.name, func(t *testing.T) {
			e := detect(t, c.q)
			if e.Kind != Citus || !e.IsCitus() || !strings.HasPrefix(e.Citus, "13.") || e.Workers != 2 {
				t.Errorf("got %+v, want Citus 13 with 2 workers", e)
			}
			if got := e.Kind.String(); got != "Citus" {
				t.Errorf("got kind %q, want Citus", got)
			}
			checkVersion(t, e)
		})
	}
}

// TestBuildsAtOnce: one model per core on PostgreSQL (one at least), one
// at a time on Citus whatever the cores.
func TestBuildsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		e     Engine
		cores int
		want  int
	}{
		{Engine{}, 4, 4},
		{Engine{}, 0, 1},
		{Engine{Kind: Citus, Workers: 2}, 4, 1},
		{Engine{Kind: Citus, Workers: 2}, 1, 1},
	} {
		if got := tc.e.BuildsAtOnce(tc.cores); got != tc.want {
			t.Errorf("%s, %d cores: %d at once, want %d", tc.e.Kind, tc.cores, got, tc.want)
		}
	}
}

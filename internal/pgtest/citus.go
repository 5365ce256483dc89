package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/pg"
)

// A Citus cluster for the tests: a coordinator and two workers on
// loopback, started from the machine's PostgreSQL binaries (with the citus
// extension installed by ../shared/citus/build.sh) the first time a test
// asks, and stopped when the test binary ends.
var citus struct {
	once sync.Once
	urls []string // each node's admin URL
	err  error
}

// howToGetCitus is said when the extension is missing.
const howToGetCitus = "Citus is not installed in this machine's PostgreSQL: run ../shared/citus/build.sh (about 5 minutes)"

// CitusURL creates a fresh database on a Citus cluster of a coordinator and
// two workers (the extension created and the workers added in it), dropped
// when the test ends, and returns the coordinator's URL for it. Without
// Citus a test fails under CI (CI=true) and is skipped, saying how to get
// it, elsewhere.
func CitusURL(t testing.TB) string {
	t.Helper()
	citus.once.Do(startCitus)
	if citus.err != nil {
		if os.Getenv("CI") != "true" && !citusInstalled() {
			t.Skip(howToGetCitus)
		}
		t.Fatalf("pgtest: citus: %v", citus.err)
	}
	name := fmt.Sprintf("c%d_%d", os.Getpid(), counter.Add(1))
	dbs := make([]string, len(citus.urls))
	for i, admin := range citus.urls {
		dbs[i] = freshDatabase(t, admin, name)
	}
	// The nodes reach each other as the same user with the same password
	// (startCitus gave every node the coordinator's).
	if err := pg.JoinCitus(context.Background(), dbs[0], dbs[1:]); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dbs[0]
}

// citusInstalled reports whether the citus extension is there to create.
func citusInstalled() bool {
	bin, err := pg.FindBinaries()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(bin, "..", "lib", "citus.so"))
	return err == nil
}

// startCitus starts the three nodes, sized for tests (testSettings), with
// citus preloaded and the coordinator's password everywhere.
func startCitus() {
	ctx := context.Background()
	if !citusInstalled() {
		citus.err = fmt.Errorf("%s", howToGetCitus)
		return
	}
	dir, err := os.MkdirTemp("", "percolate-test-citus-")
	if err != nil {
		citus.err = err
		return
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the servers' user goes through it
		os.RemoveAll(dir)
		citus.err = err
		return
	}
	extra := []pg.Setting{{Name: "shared_preload_libraries", Value: "citus"}, {Name: "max_prepared_transactions", Value: "100"},
		{Name: "max_connections", Value: "200"}, // the coordinator opens many to each worker
		{Name: "citus.node_conninfo", Value: "sslmode=disable"}}
	for i := range 3 {
		// The first node, stopped last, removes the folder of all three.
		node, remove := filepath.Join(dir, fmt.Sprintf("n%d", i)), dir
		if i > 0 {
			remove = node
		}
		s, err := startServer(ctx, node, extra, remove)
		if err != nil {
			if i == 0 {
				os.RemoveAll(dir)
			}
			citus.err = err
			return
		}
		cleanups = append(cleanups, func() { s.child.Stop() })
		citus.urls = append(citus.urls, s.admin)
	}
	coord, _ := url.Parse(citus.urls[0])
	pw, _ := coord.User.Password()
	for _, w := range citus.urls[1:] {
		conn, err := pgx.Connect(ctx, w)
		if err != nil {
			citus.err = err
			return
		}
		_, err = conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD %s", pgx.Identifier{coord.User.Username()}.Sanitize(), pg.Literal(pw)))
		conn.Close(ctx)
		if err != nil {
			citus.err = err
			return
		}
		wu, _ := url.Parse(w)
		wu.User = coord.User
		for i := range citus.urls {
			if citus.urls[i] == w {
				citus.urls[i] = wu.String()
			}
		}
	}
}

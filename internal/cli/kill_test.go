package cli

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestKillMidFile kills a real percolate process with SIGKILL while its COPY
// runs: staging and the manifest hold none of the file, and the next run
// loads it exactly once.
func TestKillMidFile(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(1), From: day, To: day, Orders: 200_000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(dir, "*.csv")
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, root, url, "migrate", "up")

	cmd, done := startPercolate(t, "-C", root, "--database-url", url, "load", "--source", "transactions="+glob, "--source", "legacy_transactions="+filepath.Join(dir, "none-*.csv"))
	pgtest.WaitForCopy(t, pool, done)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done

	// The server notices the dead client and rolls back; wait for that by
	// asking it, not by sleeping.
	pgtest.Eventually(t, 2*time.Minute, "the killed client's backend to end", func() bool {
		return !strings.Contains(scalar[string](t, pool, `SELECT coalesce(string_agg(state, ','), '') FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`), "active")
	})
	for _, sql := range []string{`SELECT count(*) FROM staging.transactions`, `SELECT count(*) FROM staging.transaction_item_sums`, `SELECT count(*) FROM percolate.files`} {
		if n := scalar[int](t, pool, sql); n != 0 {
			t.Errorf("%s: got %d after kill -9, want 0", sql, n)
		}
	}
	r := mustRun(t, root, url, "load", "--source", "transactions="+glob, "--source", "legacy_transactions="+filepath.Join(dir, "none-*.csv"))
	if !strings.Contains(r.stdout, "1 loaded, 0 replaced, 0 skipped") {
		t.Errorf("rerun: want the file loaded once, got:\n%s", r.stdout)
	}
	rows := scalar[int](t, pool, `SELECT rows_loaded::int FROM percolate.files`)
	if n := scalar[int](t, pool, `SELECT count(*) FROM staging.transactions`); n != rows || n < 100_000 {
		t.Errorf("staging: %d rows, manifest says %d: want the file exactly once", n, rows)
	}
}

// buildPercolate builds the real binary, as a user would have it.
func buildPercolate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "percolate")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/percolate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startPercolate builds the real binary and starts it in the background,
// as a user would; done closes when it exits.
func startPercolate(t *testing.T, args ...string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(buildPercolate(t), args...)
	cmd.Env = append(cmd.Environ(), "PERCOLATE_HASH_KEY=cli test key")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return cmd, done
}

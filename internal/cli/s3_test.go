package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/s3test"
)

// TestS3Source runs the pipeline from a bucket on a real S3-compatible
// server and checks the warehouse equals the same run from local files;
// then a changed object replaces its rows and an identical one under a new
// key is skipped.
func TestS3Source(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "cafe")
	a, _ := filepath.Glob(filepath.Join(root, "testdata/cafe/layout_a/*.csv"))
	b, _ := filepath.Glob(filepath.Join(root, "testdata/cafe/layout_b/*.csv"))
	srv.PutFiles(t, "cafe", "branches/", a)
	srv.PutFiles(t, "cafe", "legacy/", b)
	bucket := []string{"--source", "transactions=s3://cafe/branches/*.csv", "--source", "legacy_transactions=s3://cafe/legacy/*.csv"}

	local := pgtest.URL(t)
	mustRun(t, root, local, "run")
	url := pgtest.URL(t)
	pool := connect(t, url)
	proxy := s3test.NewProxy(t, srv.Addr, 1<<40) // counts the bytes; cuts nothing
	srv.Env(t, "http://"+proxy.Addr)
	r := mustRun(t, root, url, append([]string{"run"}, bucket...)...)
	if !strings.Contains(r.stdout, "13 loaded, 0 replaced, 0 skipped") {
		t.Fatalf("want the 13 objects loaded:\n%s", r.stdout)
	}
	first := proxy.Sent()
	r = mustRun(t, root, url, append([]string{"run"}, bucket...)...)
	if !strings.Contains(r.stdout, "0 loaded, 0 replaced, 13 skipped") {
		t.Errorf("a second run should skip every object:\n%s", r.stdout)
	}
	if again := proxy.Sent() - first; srv.NoETags {
		t.Logf("this folder keeps no extended attributes, so versitygw lists no ETags: the second run read %d bytes", again)
	} else if again > first/10 {
		t.Errorf("a second run read %d bytes from the bucket (the first %d): objects listed with their known ETag should not be downloaded\n%s", again, first, r.stdout)
	}
	want, got := snapshot(t, local), snapshot(t, url)
	for rel, w := range want {
		if got[rel] != w {
			t.Errorf("%s: from the bucket %s, from local files %s", rel, got[rel], w)
		}
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE 's3://cafe/%'`); n != 13 {
		t.Errorf("manifest: %d s3:// paths, want 13", n)
	}

	orders := scalar[int](t, pool, `SELECT count(*) FROM core.orders`)
	data, _ := os.ReadFile(a[0])
	lines := strings.SplitAfter(string(data), "\n")
	srv.Put(t, "cafe", "branches/"+filepath.Base(a[0]), []byte(strings.Join(lines[5:], "")))
	r = mustRun(t, root, url, append([]string{"run"}, bucket...)...)
	if !strings.Contains(r.stdout, "0 loaded, 1 replaced, 12 skipped") {
		t.Errorf("a changed object should replace its rows:\n%s", r.stdout)
	}
	if got := scalar[int](t, pool, `SELECT count(*) FROM core.orders`); got != orders-5 {
		t.Errorf("orders after the object lost 5 rows: %d, want %d", got, orders-5)
	}
	copyKey := "/cafe/branches/copy-of-" + filepath.Base(a[1])
	srv.Put(t, "cafe", copyKey[len("/cafe/"):], mustRead(t, a[1]))
	for i, want := range []int{1, 0, 0} { // read once to know it, then known by its listing
		before := proxy.Gets(copyKey)
		r = mustRun(t, root, url, append([]string{"run"}, bucket...)...)
		if !strings.Contains(r.stdout, "0 loaded, 0 replaced, 14 skipped") {
			t.Errorf("run %d: an identical object under a new key should be skipped:\n%s", i+1, r.stdout)
		}
		if got := proxy.Gets(copyKey) - before; !srv.NoETags && got != want {
			t.Errorf("run %d after the object was put again under a new key: got %d downloads of it, want %d", i+1, got, want)
		}
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files WHERE status = 'replaced' AND path LIKE 's3://cafe/branches/%'`); n != 1 {
		t.Errorf("manifest: %d replaced objects, want 1", n)
	}

	// Backfills date objects by their names, as files.
	r = mustRun(t, root, url, "backfill", "--from", "2022-03-02", "--to", "2022-03-03", "--dry-run", "--source", "transactions=s3://cafe/branches/*.csv", "--source", "legacy_transactions=s3://cafe/legacy/*.csv")
	if !strings.Contains(r.stdout, "files:   7 in range, 0 not loaded yet") {
		t.Errorf("backfill over the bucket:\n%s", r.stdout)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

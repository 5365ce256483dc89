package loaders

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/s3test"
)

// TestS3Faults loads an object through a proxy that breaks downloads
// mid-object: a few breaks are resumed and the file loads whole; breaks
// that never stop fail that file cleanly, naming the object, with nothing
// of it in staging.
func TestS3Faults(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.Bucket(t, "cafe")
	data, err := os.ReadFile(bigFile(t, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 200<<10 {
		t.Fatalf("the object is %d bytes: too small to break mid-way", len(data))
	}
	srv.Put(t, "cafe", "branches/chesterfield_01-05-2023_09-00-00.csv", data)
	srv.Put(t, "cafe", "branches/leeds_01-05-2023_09-00-00.csv", []byte(strings.ReplaceAll(string(data), "Chesterfield", "Leeds")))
	proxy := s3test.NewProxy(t, srv.Addr, 64<<10)
	client, err := NewS3(ctx, S3Options{Endpoint: "http://" + proxy.Addr, Retries: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	ld := csvLoader(t, pool, Options{S3: func(context.Context) (*S3, error) { return client, nil }})
	want := int64(strings.Count(string(data), "\n"))

	t.Run("breaks are resumed", func(t *testing.T) {
		proxy.Cut(3)
		res, err := ld.Load(ctx, 0, src, []string{"s3://cafe/branches/chesterfield_01-05-2023_09-00-00.csv"})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != Loaded || res[0].Loaded != want {
			t.Fatalf("got %s with %d rows (%v), want loaded with %d", res[0].Status, res[0].Loaded, res[0].Err, want)
		}
		if proxy.Cuts() != 3 {
			t.Errorf("the proxy broke %d downloads, want 3", proxy.Cuts())
		}
		if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); int64(n) != want {
			t.Errorf("staging: %d rows, want %d", n, want)
		}
	})
	t.Run("breaks during the load transaction are resumed", func(t *testing.T) {
		// Redelivered under another name: read to hash it, then to load it.
		moved := "s3://cafe/branches/york_01-05-2023_09-00-00.csv"
		srv.Put(t, "cafe", strings.TrimPrefix(moved, "s3://cafe/"), []byte(strings.ReplaceAll(string(data), "Chesterfield", "York")))
		if _, err := client.Glob(ctx, "s3://cafe/branches/*.csv"); err != nil {
			t.Fatal(err)
		}
		cuts := proxy.Cuts()
		proxy.CutFrom(int64(len(data))+4<<10, 2) // the hashing read (headers and all) passes whole
		res, err := ld.Load(ctx, 0, src, []string{moved})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != Loaded || res[0].Loaded != want {
			t.Fatalf("got %s with %d rows (%v), want loaded with %d", res[0].Status, res[0].Loaded, res[0].Err, want)
		}
		if proxy.Cuts()-cuts != 2 {
			t.Errorf("the proxy broke %d downloads, want 2", proxy.Cuts()-cuts)
		}
		if n := count(t, pool, `SELECT count(*) FROM staging.transactions WHERE branch = 'York'`); int64(n) != want {
			t.Errorf("staging: %d York rows, want %d", n, want)
		}
	})
	t.Run("an object changed since its listing is not loaded", func(t *testing.T) {
		proxy.Cut(0)
		key := "branches/derby_01-05-2023_09-00-00.csv"
		srv.Put(t, "cafe", key, []byte(strings.ReplaceAll(string(data), "Chesterfield", "Derby")))
		if _, err := client.Glob(ctx, "s3://cafe/branches/*.csv"); err != nil {
			t.Fatal(err)
		}
		srv.Put(t, "cafe", key, []byte(strings.ReplaceAll(string(data), "Chesterfield", "Derby Two")))
		res, err := ld.Load(ctx, 0, src, []string{"s3://cafe/" + key})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != Failed || !strings.Contains(res[0].Err.Error(), "412") && !strings.Contains(res[0].Err.Error(), "PreconditionFailed") {
			t.Errorf("got %s (%v), want failed: the object is not the version listed", res[0].Status, res[0].Err)
		}
		if n := count(t, pool, `SELECT count(*) FROM staging.transactions WHERE branch LIKE 'Derby%'`); n != 0 {
			t.Errorf("staging: %d Derby rows, want none", n)
		}
	})
	t.Run("endless breaks fail the file cleanly", func(t *testing.T) {
		proxy.Cut(-1)
		before := count(t, pool, `SELECT count(*) FROM staging.transactions`)
		res, err := ld.Load(ctx, 0, src, []string{"s3://cafe/branches/leeds_01-05-2023_09-00-00.csv"})
		if err != nil {
			t.Fatalf("a failing object stopped the whole load: %v", err)
		}
		if res[0].Status != Failed || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "s3://cafe/branches/leeds_01-05-2023_09-00-00.csv") {
			t.Fatalf("got %s (%v), want failed naming the object", res[0].Status, res[0].Err)
		}
		if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); n != before {
			t.Errorf("staging: %d rows, want %d: nothing of a failed file stays", n, before)
		}
		if n := count(t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE '%leeds%'`); n != 0 {
			t.Errorf("the manifest holds the failed file")
		}
	})
}

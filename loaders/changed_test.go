package loaders

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// midRead is a reader a file is streamed into staging through: once past
// 1 MiB it calls during, and at the end of the stream end, each once.
type midRead struct {
	r           io.Reader
	n           int64
	during, end func()
}

func (m *midRead) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n += int64(n)
	if m.during != nil && m.n >= 1<<20 {
		m.during()
		m.during = nil
	}
	if err == io.EOF && m.end != nil {
		m.end()
		m.end = nil
	}
	return n, err
}

// TestChangedWhileRead changes a big file (streamed, so read twice: for
// its hash, then for its rows) while its rows are read: the manifest must
// record the hash of the bytes whose rows it holds, and the next run must
// leave the file's rows in staging, whole.
func TestChangedWhileRead(t *testing.T) {
	src := cafe(t).Sources["transactions"]
	orig, err := os.ReadFile(bigFile(t, 40_000))
	if err != nil {
		t.Fatal(err)
	}
	if len(orig) <= smallFile {
		t.Fatalf("the file has %d bytes: too small to be streamed", len(orig))
	}
	appendRows := func(path string) func() {
		return func() {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if _, err := f.Write(orig[:bytes.IndexByte(orig, '\n')+1]); err != nil {
				t.Error(err)
			}
		}
	}
	tests := []struct {
		name string
		// during and end act on the file while it is streamed.
		during, end func(path string) func()
		every       bool   // at every read of the load, not the first only
		want        Status // what the load that saw it says
	}{
		{name: "rewritten in place", want: Loaded,
			// Truncated, then written whole again once the load has read
			// to the (then) end.
			during: func(path string) func() { return func() { os.Truncate(path, 0) } },
			end: func(path string) func() {
				return func() {
					if err := os.WriteFile(path, orig, 0o644); err != nil {
						t.Error(err)
					}
				}
			}},
		{name: "appended to", want: Loaded, during: appendRows},
		{name: "appended to at every read", want: Failed, during: appendRows, every: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := warehouse(t)
			path := filepath.Join(t.TempDir(), "big.csv")
			if err := os.WriteFile(path, orig, 0o644); err != nil {
				t.Fatal(err)
			}
			ld := csvLoader(t, pool, Options{})
			streams := 0
			ld.test.stream = func(p string, r io.Reader) io.Reader {
				streams++
				if streams > 1 && !tt.every {
					return r
				}
				m := &midRead{r: r, during: tt.during(p)}
				if tt.end != nil {
					m.end = tt.end(p)
				}
				return m
			}
			res, err := ld.Load(context.Background(), 0, src, []string{path})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Status != tt.want {
				t.Fatalf("the load that saw the change: got %s (%v), want %s", res[0].Status, res[0].Err, tt.want)
			}
			if tt.want == Failed {
				if n := count(t, pool, `SELECT count(*) FROM percolate.files`) + count(t, pool, `SELECT count(*) FROM staging.transactions`); n != 0 {
					t.Errorf("a file that kept changing: got %d manifest and staging rows, want none", n)
				}
			} else {
				holdsFile(t, pool, path)
			}
			next := load(t, pool, src, path)
			if want := map[Status]Status{Loaded: Skipped, Failed: Loaded}[tt.want]; next[0].Status != want {
				t.Errorf("the next load: got %s, want %s", next[0].Status, want)
			}
			holdsFile(t, pool, path)
		})
	}
}

// holdsFile checks that the manifest records path with the hash of its
// content now and as many rows as it has lines, and that staging holds
// those rows.
func holdsFile(t *testing.T, pool *pgxpool.Pool, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	lines := bytes.Count(b, []byte("\n"))
	var hash string
	var loadID, rows int64
	if err := pool.QueryRow(context.Background(), `SELECT content_hash, load_id, rows_loaded FROM percolate.files WHERE path = $1 AND status = 'loaded'`, path).Scan(&hash, &loadID, &rows); err != nil {
		t.Fatalf("the manifest's entry for the file: %v", err)
	}
	if hash != hex.EncodeToString(sum[:]) {
		t.Errorf("manifest hash: got %s, want %x: the hash of the file's bytes", hash, sum)
	}
	if rows != int64(lines) {
		t.Errorf("manifest rows_loaded: got %d, want %d: the file's lines", rows, lines)
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.transactions WHERE load_id = $1`, loadID); n != lines {
		t.Errorf("staging: got %d rows of the file, want %d: its lines", n, lines)
	}
}

// TestGroupRecordsWhatItRead: a small file that changed between its
// listing and its read is recorded with the size of the bytes it was
// loaded from, not the listing's.
func TestGroupRecordsWhatItRead(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	path := write(t, t.TempDir(), "a.csv", rowA1+rowA2)
	st, _, err := StatFile(path)
	if err != nil {
		t.Fatal(err)
	}
	listed := st
	listed.Size = int64(len(rowA1)) // as it was when listed
	ld := csvLoader(t, pool, Options{Listed: func(string) (Stat, bool) { return listed, true }})
	res, err := ld.Load(context.Background(), 0, src, []string{path})
	if err != nil || res[0].Status != Loaded {
		t.Fatalf("got %v, %v, want loaded", res[0].Status, err)
	}
	if n := count(t, pool, `SELECT size FROM percolate.files WHERE path = $1`, path); int64(n) != st.Size {
		t.Errorf("manifest size: got %d, want %d: the bytes loaded", n, st.Size)
	}
}

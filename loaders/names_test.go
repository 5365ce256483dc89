package loaders

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// TestPathText: names that differ are recorded apart, in UTF-8; names in
// UTF-8 are recorded as they are.
func TestPathText(t *testing.T) {
	tests := []struct{ a, b string }{
		{"caf\xe9.csv", "caf\xe8.csv"},
		{"a\xff.csv", "a\uFFFDff.csv"},
		{"a\uFFFD.csv", "a\uFFFD\uFFFD.csv"},
		{"x\xff", "x\uFFFD"},
		{"x\xff", "x\xff\xff"},
		{"in/\xc3", "in/\xc3\xa9"},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			a, b := PathText(tt.a), PathText(tt.b)
			if a == b {
				t.Errorf("%q and %q are both recorded as %q", tt.a, tt.b, a)
			}
			for _, s := range []string{a, b} {
				if !utf8.ValidString(s) {
					t.Errorf("got %q, want UTF-8", s)
				}
			}
		})
	}
	for _, name := range []string{"chesterfield_25-08-2021.csv", "dir/é ü.csv", ""} {
		if got := PathText(name); got != name {
			t.Errorf("PathText(%q): got %q, want it as it is", name, got)
		}
	}
}

// TestNamesNotUTF8 loads two files whose names differ in one byte that is
// not UTF-8: each keeps its own manifest entry and rows, run after run.
func TestNamesNotUTF8(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	a, b := filepath.Join(dir, "caf\xe9.csv"), filepath.Join(dir, "caf\xe8.csv")
	if err := os.WriteFile(a, []byte(rowA1), 0o644); err != nil {
		t.Skipf("this file system takes no such names: %v", err)
	}
	if err := os.WriteFile(b, []byte(rowA2+rowA3), 0o644); err != nil {
		t.Fatal(err)
	}
	for run, want := range []Status{Loaded, Skipped} {
		// Each alone, as runs that find one new file each would.
		res := append(load(t, pool, src, a), load(t, pool, src, b)...)
		for i, r := range res {
			if r.Status != want {
				t.Errorf("run %d, file %d: got %s, want %s", run+1, i+1, r.Status, want)
			}
		}
		if n := count(t, pool, `SELECT count(DISTINCT path) FROM percolate.files WHERE status = 'loaded'`); n != 2 {
			t.Errorf("run %d: got %d paths loaded, want 2", run+1, n)
		}
		if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); n != 3 {
			t.Errorf("run %d: got %d rows in staging, want 3: both files'", run+1, n)
		}
	}
}

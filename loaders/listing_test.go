package loaders

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestList: a glob over day folders lists the matching entries of every
// folder but those the caller says are unchanged, a folder matching the
// pattern as an entry that cannot be loaded, and each folder read with
// its modification time.
func TestList(t *testing.T) {
	root := t.TempDir()
	write := func(rel string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2024-01-01/a.csv")
	write("2024-01-01/b.csv")
	write("2024-01-01/notes.txt")
	write("2024-01-02/a.csv")
	if err := os.Mkdir(filepath.Join(root, "2024-01-02", "odd.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "2024-01-01", "a.csv"), filepath.Join(root, "2024-01-02", "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "gone.csv"), filepath.Join(root, "2024-01-02", "broken.csv")); err != nil {
		t.Fatal(err)
	}
	write("loose.csv") // not in a day folder: the glob does not match it
	glob := filepath.Join(root, "*", "*.csv")
	day1, day2 := filepath.Join(root, "2024-01-01"), filepath.Join(root, "2024-01-02")
	fi, err := os.Stat(day1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		unchanged func(string, time.Time) bool
		files     []string // loadable, relative to root
		bad       []string // matched, not loadable
		read      []string
	}{
		{"every folder", nil,
			[]string{"2024-01-01/a.csv", "2024-01-01/b.csv", "2024-01-02/a.csv", "2024-01-02/link.csv"},
			[]string{"2024-01-02/broken.csv", "2024-01-02/odd.csv"}, []string{day1, day2}},
		{"a folder unchanged", func(d string, m time.Time) bool {
			return d == day1 && m.Equal(fi.ModTime().UTC().Truncate(time.Microsecond))
		},
			[]string{"2024-01-02/a.csv", "2024-01-02/link.csv"},
			[]string{"2024-01-02/broken.csv", "2024-01-02/odd.csv"}, []string{day2}},
		{"a folder at another time", func(d string, m time.Time) bool { return d == day1 && m.Equal(time.Unix(0, 0)) },
			[]string{"2024-01-01/a.csv", "2024-01-01/b.csv", "2024-01-02/a.csv", "2024-01-02/link.csv"},
			[]string{"2024-01-02/broken.csv", "2024-01-02/odd.csv"}, []string{day1, day2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, folders, err := List(glob, tt.unchanged)
			if err != nil {
				t.Fatal(err)
			}
			var files, bad, read []string
			for _, e := range entries {
				rel, _ := filepath.Rel(root, e.Path)
				if e.Err == nil {
					files = append(files, filepath.ToSlash(rel))
				} else {
					bad = append(bad, filepath.ToSlash(rel))
				}
			}
			slices.Sort(bad)
			for _, f := range folders {
				read = append(read, f.Path)
				if want := f.Path == day2; f.Unreadable != want {
					t.Errorf("%s: unreadable %v, want %v", f.Path, f.Unreadable, want)
				}
			}
			if !slices.Equal(files, tt.files) || !slices.Equal(bad, tt.bad) || !slices.Equal(read, tt.read) {
				t.Errorf("got files %v, bad %v, read %v;\nwant %v, %v, %v", files, bad, read, tt.files, tt.bad, tt.read)
			}
		})
	}
}

// TestFolderSettled: a folder modified within two seconds of its listing
// is not trusted later by its time (a file landing in the same clock tick
// would leave it unchanged).
func TestFolderSettled(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		ago  time.Duration
		want bool
	}{{0, false}, {time.Second, false}, {3 * time.Second, true}, {time.Hour, true}} {
		if got := (Folder{Modified: now.Add(-tt.ago), Listed: now}).Settled(); got != tt.want {
			t.Errorf("modified %s before its listing: settled %v, want %v", tt.ago, got, tt.want)
		}
	}
}

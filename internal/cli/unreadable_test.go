package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestUnreadableMatchWarns: an entry of a source folder that its glob
// matches but that cannot be loaded (a symlink loop, a broken link, a
// folder named like a file) is a warning naming it, and the files beside
// it load.
func TestUnreadableMatchWarns(t *testing.T) {
	good, _ := filepath.Glob(filepath.Join(root, "testdata/cafe/layout_a/*.csv"))
	for _, tc := range []struct {
		name, entry string
		make        func(path string) error
		want        string
	}{
		{"symlink loop", "leeds_01-03-2022_09-00-00.csv", func(p string) error { return os.Symlink(filepath.Base(p), p) },
			"leeds_01-03-2022_09-00-00.csv matches the path but cannot be read, so it was not loaded: too many levels of symbolic links"},
		{"broken link", "york_01-03-2022_09-00-00.csv", func(p string) error { return os.Symlink("gone.csv", p) },
			"york_01-03-2022_09-00-00.csv matches the path but cannot be read, so it was not loaded: no such file or directory"},
		{"folder", "bath_01-03-2022_09-00-00.csv", func(p string) error { return os.Mkdir(p, 0o755) },
			"bath_01-03-2022_09-00-00.csv matches the path but is not a file (a folder, say), so it was not loaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := copyFile(good[0], filepath.Join(dir, filepath.Base(good[0]))); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(filepath.Join(dir, tc.entry)); err != nil {
				t.Fatal(err)
			}
			r := mustRun(t, root, pgtest.URL(t), "load", "--source", "transactions="+filepath.Join(dir, "*.csv"),
				"--source", "legacy_transactions="+filepath.Join(dir, "none-*.csv"))
			if !strings.Contains(r.stdout, "warning: source transactions: ") || !strings.Contains(r.stdout, tc.want) {
				t.Errorf("got:\n%s\nwant a warning: source transactions: …%s", r.stdout, tc.want)
			}
			if !strings.Contains(r.stdout, "1 loaded") {
				t.Errorf("got:\n%s\nwant the file beside it loaded", r.stdout)
			}
		})
	}
}

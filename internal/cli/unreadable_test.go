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
// folder named like a file) is a warning naming it, in the same words
// whether the source's every file is listed or, immutable, its folders',
// and the files beside it load.
func TestUnreadableMatchWarns(t *testing.T) {
	good, _ := filepath.Glob(filepath.Join(root, "testdata/cafe/layout_a/*.csv"))
	immutable := tempProject(t)
	edit(t, filepath.Join(immutable, "pipelines.yaml"), "        distributed_by: branch           #", "        immutable: true\n        distributed_by: branch           #")
	for _, project := range []struct{ name, dir string }{{"every file", root}, {"immutable", immutable}} {
		t.Run(project.name, func(t *testing.T) { unreadableMatches(t, project.dir, good[0]) })
	}
}

// unreadableMatches loads, with the project in dir, a folder of the file
// good and one entry that cannot be loaded, for each kind of entry.
func unreadableMatches(t *testing.T, dir, good string) {
	for _, tc := range []struct {
		name, entry string
		make        func(path string) error
		want        string
	}{
		{"symlink loop", "leeds_01-03-2022_09-00-00.csv", func(p string) error { return os.Symlink(filepath.Base(p), p) },
			"leeds_01-03-2022_09-00-00.csv matches the path but cannot be loaded: too many levels of symbolic links"},
		{"broken link", "york_01-03-2022_09-00-00.csv", func(p string) error { return os.Symlink("gone.csv", p) },
			"york_01-03-2022_09-00-00.csv matches the path but cannot be loaded: no such file or directory"},
		{"folder", "bath_01-03-2022_09-00-00.csv", func(p string) error { return os.Mkdir(p, 0o755) },
			"bath_01-03-2022_09-00-00.csv matches the path but cannot be loaded: not a file (a folder, say)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			if err := copyFile(good, filepath.Join(in, filepath.Base(good))); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(filepath.Join(in, tc.entry)); err != nil {
				t.Fatal(err)
			}
			r := mustRun(t, dir, pgtest.URL(t), "load", "--source", "transactions="+filepath.Join(in, "*.csv"),
				"--source", "legacy_transactions="+filepath.Join(in, "none-*.csv"))
			if !strings.Contains(r.stdout, "warning: source transactions: ") || !strings.Contains(r.stdout, tc.want) {
				t.Errorf("got:\n%s\nwant a warning: source transactions: …%s", r.stdout, tc.want)
			}
			if !strings.Contains(r.stdout, "1 loaded") {
				t.Errorf("got:\n%s\nwant the file beside it loaded", r.stdout)
			}
		})
	}
}

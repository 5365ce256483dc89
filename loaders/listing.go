package loaders

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Folder is a folder a listing read: its path and its modification time
// as it was just before the listing read it.
type Folder struct {
	Path     string
	Modified time.Time
	// Listed is when the listing stated it.
	Listed time.Time
	// Unreadable is true when an entry of it that the glob matches is not
	// a file or cannot be stated: it is read again every time, to say so.
	Unreadable bool
}

// Settled reports whether f can be trusted unchanged later by its
// modification time: it had not been modified in the last two seconds
// before it was listed. A file's landing may change its folder's time
// within the clock's tick of the listing and leave it reading the same
// (as git's racy index entries); such a folder is read again next time.
func (f Folder) Settled() bool {
	return f.Listed.Sub(f.Modified) > 2*time.Second
}

// Entry is a name a listing matched: a regular file, or else what it is.
type Entry struct {
	Path string
	// Err is why the entry cannot be loaded (not a file, a broken link);
	// nil for a file.
	Err error
}

// List expands glob as filepath.Glob does, for a source whose files are
// never rewritten (config.Source.Immutable): it states each folder the
// glob's last element is matched in, and does not read one whose
// modification time unchanged says is what it was when its every file was
// taken (a folder's time moves when an entry is added, removed or renamed
// in it). It reads the others with one readdir each, stating only what
// readdir does not say is a regular file (a link). It returns their
// entries matched, sorted, and the folders it read.
func List(glob string, unchanged func(dir string, modified time.Time) bool) ([]Entry, []Folder, error) {
	dir, pattern := filepath.Split(glob)
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, nil, fmt.Errorf("path %q: %w", glob, err)
	}
	dirs := []string{filepath.Clean(dir)}
	if hasMeta(dir) {
		var err error
		if dirs, err = filepath.Glob(filepath.Clean(dir)); err != nil {
			return nil, nil, fmt.Errorf("path %q: %w", glob, err)
		}
	}
	var entries []Entry
	var read []Folder
	for _, d := range dirs {
		listed := time.Now()
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() {
			continue // as Glob: a pattern whose folder is not one matches nothing
		}
		f := Folder{Path: d, Modified: fi.ModTime().UTC().Truncate(time.Microsecond), Listed: listed}
		if unchanged != nil && unchanged(d, f.Modified) {
			continue
		}
		names, err := os.ReadDir(d)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", d, err)
		}
		for _, n := range names {
			if ok, _ := filepath.Match(pattern, n.Name()); !ok {
				continue
			}
			e := Entry{Path: filepath.Join(d, n.Name())}
			if e.Err = regular(e.Path, n); e.Err != nil {
				f.Unreadable = true
			}
			entries = append(entries, e)
		}
		read = append(read, f)
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return entries, read, nil
}

// errNotFile is an entry that is not a regular file.
var errNotFile = errors.New("not a file (a folder, say)")

// regular says whether a folder's entry is a regular file, from readdir's
// type where it tells, else by stating it (a link: what it points at).
func regular(path string, e os.DirEntry) error {
	switch t := e.Type(); {
	case t.IsRegular():
		return nil
	case t&os.ModeSymlink == 0 && t&os.ModeType != 0:
		return errNotFile
	}
	_, ok, err := StatFile(path)
	switch {
	case err != nil:
		return err
	case !ok:
		return errNotFile
	}
	return nil
}

// hasMeta reports whether path holds a character Match treats specially.
func hasMeta(path string) bool {
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}

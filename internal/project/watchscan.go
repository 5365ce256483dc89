package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/loaders"
)

// Clock is the time a watch goes by: the system's, or a test's that it
// moves on by hand.
type Clock interface {
	Now() time.Time
	// Until sends once the time t has come.
	Until(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                     { return time.Now() }
func (systemClock) Until(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// seen is what a watch knows of one file or object.
type seen struct {
	source string
	// version is the file's size and modification time, or the object's
	// ETag and size, as last seen; since is when it was first seen so.
	version string
	since   time.Time
	// taken is the version the last batch that ended took; a file whose
	// version is taken waits for its next change.
	taken string
}

// watcher is a watch's state: every file of the pipeline's sources it
// knows, and what tells it of new ones.
type watcher struct {
	p     *Folder
	pl    *config.Pipeline
	clock Clock
	opt   WatchOptions
	files map[string]*seen
	// local are the local sources' globs, absolute; buckets the sources
	// in buckets.
	local   map[string]string
	buckets []string
	fs      *fsnotify.Watcher
}

func (p *Folder) newWatcher(pl *config.Pipeline, opt WatchOptions) (*watcher, error) {
	w := &watcher{p: p, pl: pl, clock: opt.Clock, opt: opt, files: map[string]*seen{}, local: map[string]string{}}
	var err error
	if w.fs, err = fsnotify.NewWatcher(); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	dirs := map[string]bool{}
	for _, name := range pl.SourceNames() {
		path := pl.Sources[name].Path
		if o := opt.Sources[name]; o != "" {
			path = o // typed on a command line: relative to where it was
		} else if !loaders.IsS3(path) {
			path = p.Config.Resolve(path)
		}
		if loaders.IsS3(path) {
			w.buckets = append(w.buckets, name)
			continue
		}
		glob, err := filepath.Abs(path)
		if err != nil {
			w.fs.Close()
			return nil, err
		}
		w.local[name] = glob
		dirs[fixedDir(glob)] = true
	}
	for d := range dirs {
		// A folder not made yet is found by the rescans; events are only
		// the quick way.
		if err := w.fs.Add(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.fs.Close()
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
	}
	return w, nil
}

// fixedDir is the deepest folder of a glob without a wildcard: the one
// whose events can tell of its files.
func fixedDir(glob string) string {
	d := filepath.Dir(glob)
	for strings.ContainsAny(d, "*?[") {
		d = filepath.Dir(d)
	}
	return d
}

// scan lists every source of one kind (local or in buckets), noting what
// is new or changed and forgetting what went.
func (w *watcher) scan(ctx context.Context, buckets bool) error {
	for _, name := range w.pl.SourceNames() {
		if slices.Contains(w.buckets, name) != buckets {
			continue
		}
		paths, err := w.p.Paths(ctx, w.pl.Sources[name], w.opt.Sources[name])
		if err != nil {
			return err
		}
		now := w.clock.Now()
		here := make(map[string]bool, len(paths))
		for _, path := range paths {
			here[path] = true
			if v, ok := w.version(path); ok {
				w.note(name, path, v, now)
			}
		}
		for path, s := range w.files {
			if s.source == name && !here[path] {
				delete(w.files, path)
			}
		}
	}
	return nil
}

// version is what the last listing said of a path.
func (w *watcher) version(path string) (string, bool) {
	if loaders.IsS3(path) {
		c, err := w.p.S3(context.Background()) // made by the listing already
		if err != nil {
			return "", false
		}
		return c.Version(path)
	}
	st, ok := w.p.statOf(path)
	return statVersion(st), ok
}

func statVersion(st loaders.Stat) string {
	return fmt.Sprintf("%d/%d", st.Size, st.Modified.UnixNano())
}

// note records a path's version as seen now; a changed one starts its
// settle interval again.
func (w *watcher) note(source, path, version string, now time.Time) {
	s, ok := w.files[path]
	if ok && s.version == version {
		return
	}
	if !ok {
		s = &seen{source: source}
		w.files[path] = s
	}
	s.version, s.since = version, now
	if s.taken != version && w.opt.OnSeen != nil {
		w.opt.OnSeen(path, version)
	}
}

// event stats the file an event names, when it is a source's.
func (w *watcher) event(ev fsnotify.Event) {
	for _, name := range w.pl.SourceNames() {
		glob, ok := w.local[name]
		if !ok {
			continue
		}
		if m, _ := filepath.Match(glob, ev.Name); m {
			w.stat(name, ev.Name)
			return
		}
	}
}

// stat looks at one local file again: it is noted, or forgotten when
// gone or not a file.
func (w *watcher) stat(source, path string) (string, bool) {
	st, ok, err := loaders.StatFile(path)
	if err != nil || !ok {
		delete(w.files, path)
		return "", false
	}
	w.p.listedMu.Lock()
	if w.p.listed == nil {
		w.p.listed = map[string]loaders.Stat{}
	}
	w.p.listed[path] = st
	w.p.listedMu.Unlock()
	v := statVersion(st)
	w.note(source, path, v, w.clock.Now())
	return v, true
}

// ready returns the files to take now, by source: objects as soon as
// listed (an object is whole once it exists), local files once their size
// and modification time stayed the same for the settle interval (stat
// again now, in case an event was missed); and when the next local file
// will be ready, or zero.
func (w *watcher) ready() (map[string][]string, time.Time) {
	now := w.clock.Now()
	out := map[string][]string{}
	var next time.Time
	for path, s := range w.files {
		if s.taken == s.version {
			continue
		}
		if _, local := w.local[s.source]; local {
			due, before := s.since.Add(w.opt.Settle), s.version
			if now.Before(due) {
				if next.IsZero() || due.Before(next) {
					next = due
				}
				continue
			}
			if v, ok := w.stat(s.source, path); !ok || v != before {
				continue // gone, or changed after all: noted, it settles again
			}
		}
		out[s.source] = append(out[s.source], path)
	}
	return out, next
}

// taken marks the files of a batch that ended as taken, at the version
// the batch saw.
func (w *watcher) taken(files map[string]string) {
	for path, v := range files {
		if s, ok := w.files[path]; ok && s.version == v {
			s.taken = v
		}
	}
}

func (w *watcher) close() { w.fs.Close() }

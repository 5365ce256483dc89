package project

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/loaders"
)

// folderList is what the last listing of a source whose files are never
// rewritten read: the folders, with the pattern and contract they were
// listed under, that a run records once it took their files.
type folderList struct {
	pattern, contract string
	folders           []loaders.Folder
	// passed is how many folders it passed over, unchanged.
	passed int
}

// runPaths lists the files a run (or its plan) of src looks at. For a
// local source whose files are never rewritten (immutable: true), those of
// the folders whose modification time moved since a run last took every
// file in them (see loaders.List): the rest hold nothing new. Else, and on
// rehash, every file of the glob (see Paths).
func (p *Folder) runPaths(ctx context.Context, pool *pgxpool.Pool, src *config.Source, override string, rehash bool) ([]string, error) {
	glob, err := p.glob(src, override)
	if err != nil || !src.Immutable || loaders.IsS3(glob) {
		return p.Paths(ctx, src, override)
	}
	fl := folderList{pattern: filepath.Base(glob), contract: loaders.Fingerprint(src)}
	var known map[string]time.Time
	if !rehash {
		if known, err = p.ledger.Folders(ctx, pool, src.Name, fl.pattern, fl.contract); err != nil {
			return nil, err
		}
	}
	entries, folders, err := loaders.List(glob, func(dir string, modified time.Time) bool {
		t, ok := known[loaders.PathText(p.rel(dir))]
		if ok && t.Equal(modified) {
			fl.passed++
			return true
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	fl.folders = folders
	var files, unreadable []string
	for _, e := range entries {
		if e.Err == nil {
			files = append(files, e.Path)
			continue
		}
		unreadable = append(unreadable, p.unreadableWarning(src, e.Path, e.Err))
	}
	p.listedMu.Lock()
	if p.unreadable == nil {
		p.unreadable = map[string][]string{}
	}
	if p.folders == nil {
		p.folders = map[string]folderList{}
	}
	p.unreadable[src.Name], p.folders[src.Name] = unreadable, fl
	p.listedMu.Unlock()
	sortByDay(src, files)
	return files, nil
}

// errNotFile is why an entry a glob matches that is not a regular file
// is not loaded, in loaders.List's words.
var errNotFile = errors.New("not a file (a folder, say)")

// unreadableWarning is the warning for the entry at path, which src's glob
// matches but which cannot be loaded, and why: in the same words whichever
// listing found it (Paths, or runPaths's of folders).
func (p *Folder) unreadableWarning(src *config.Source, path string, why error) string {
	var pe *fs.PathError
	if errors.As(why, &pe) {
		why = pe.Err // the path is said already
	}
	return fmt.Sprintf("source %s: %s matches the path but cannot be loaded: %v", src.Name, p.rel(path), why)
}

// passedOver is how many folders the last listing of source passed over,
// unchanged: a glob that matched no file still has files there.
func (p *Folder) passedOver(source string) int {
	p.listedMu.Lock()
	defer p.listedMu.Unlock()
	return p.folders[source].passed
}

// recordFolders records the folders the last listing of src read whose
// every file the load took (loaded, or skipped as known), that hold no
// refused file nor anything that cannot be loaded, and had settled (see
// loaders.Folder.Settled): the next run does not list them. res are the
// load's results.
func (p *Folder) recordFolders(ctx context.Context, pool *pgxpool.Pool, src *config.Source, res []loaders.Result) error {
	p.listedMu.Lock()
	fl := p.folders[src.Name]
	delete(p.folders, src.Name)
	p.listedMu.Unlock()
	if len(fl.folders) == 0 {
		return nil
	}
	open := map[string]bool{}
	for _, r := range res {
		// A refused file keeps its folder listed: every run warns of it
		// again, as of one in a folder of another source.
		if r.Status == loaders.Failed || r.Status == loaders.Refused || r.Status == loaders.RefusedEarlier {
			open[filepath.Dir(r.Path)] = true
		}
	}
	var taken []ledger.Folder
	for _, f := range fl.folders {
		rec := loaders.PathText(p.rel(f.Path))
		if f.Unreadable || !f.Settled() || open[rec] {
			continue
		}
		taken = append(taken, ledger.Folder{Path: rec, Pattern: fl.pattern, Contract: fl.contract, Modified: f.Modified})
	}
	return p.ledger.RecordFolders(ctx, pool, src.Name, taken)
}

// Package scaffold writes a new project that runs: the framework's own
// example of a source (a bike-hire trips file a day), a sample file, a
// model with its unit test, and the migration of the source's staging
// table, generated from its contract as `percolate migrate create
// --source` writes it.
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/staging"
)

// The template's dot-files are stored without their dot: a .gitignore in
// this folder would be the repository's own.
//
//go:embed template
var template embed.FS

const templateRoot = "template"

// dotted names the template's files written under another name.
var dotted = map[string]string{"gitignore": ".gitignore"}

// File is one file of a new project.
type File struct {
	Path string // relative to the project folder, with forward slashes
	Body []byte
}

// ExistsError is a file that a new project would write and that is there
// already: init never overwrites one.
type ExistsError struct {
	Path string // as the caller named the folder, joined with the file
	// Migrations is true when it is a migration of the folder's own.
	Migrations bool
}

func (e *ExistsError) Error() string {
	if e.Migrations {
		return fmt.Sprintf("%s exists: the folder has migrations already; a new project starts without any", e.Path)
	}
	return fmt.Sprintf("%s exists: init never overwrites a file", e.Path)
}

// Files returns the files of a new project, in the order they are
// written: the template's, then the migration of its source's staging
// table, made from the source's contract.
func Files() ([]File, error) {
	var files []File
	err := fs.WalkDir(template, templateRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := template.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, templateRoot+"/")
		if name, ok := dotted[path.Base(rel)]; ok {
			rel = path.Join(path.Dir(rel), name)
		}
		files = append(files, File{Path: rel, Body: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	m, err := migration(files)
	if err != nil {
		return nil, err
	}
	files = append(files, m...)
	slices.SortStableFunc(files, func(a, b File) int { return order(a.Path) - order(b.Path) })
	return files, nil
}

// order puts pipelines.yaml first and the dot-files last, so that what
// init prints reads from what to edit to what to leave.
func order(p string) int {
	switch {
	case p == "pipelines.yaml":
		return 0
	case strings.HasPrefix(path.Base(p), "."):
		return 2
	}
	return 1
}

// migration makes the goose migration of each source's staging tables
// from the template's pipelines.yaml, numbered from 00001 in source order.
func migration(files []File) ([]File, error) {
	i := slices.IndexFunc(files, func(f File) bool { return f.Path == "pipelines.yaml" })
	if i < 0 {
		return nil, errors.New("scaffold: the template has no pipelines.yaml")
	}
	cfg, err := config.Parse("pipelines.yaml", files[i].Body)
	if err != nil {
		return nil, fmt.Errorf("scaffold: the template: %w", err)
	}
	var out []File
	for _, name := range cfg.Names() {
		pl := cfg.Pipelines[name]
		for _, sname := range pl.SourceNames() {
			up, down, err := staging.Migration(pl.Sources[sname], &staging.Schema{})
			if err != nil {
				return nil, fmt.Errorf("scaffold: source %s: %w", sname, err)
			}
			out = append(out, File{
				Path: fmt.Sprintf("migrations/%05d_%s_staging.sql", len(out)+1, sname),
				Body: []byte(migrate.Body(up, down)),
			})
		}
	}
	return out, nil
}

// Write writes files into dir (made if needed). It refuses, writing
// nothing, when one of them is there already or dir has migrations of its
// own; and it creates each file exclusively, so that nothing another
// process wrote meanwhile is overwritten either: if one appears, the files
// written so far are removed.
func Write(dir string, files []File) error {
	if err := Check(dir, files); err != nil {
		return err
	}
	var written []string
	undo := func(err error) error {
		for _, p := range slices.Backward(written) {
			os.Remove(p)
		}
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return undo(err)
		}
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return undo(&ExistsError{Path: p})
		}
		if err != nil {
			return undo(err)
		}
		written = append(written, p)
		if _, err := fh.Write(f.Body); err != nil {
			fh.Close()
			return undo(err)
		}
		if err := fh.Close(); err != nil {
			return undo(err)
		}
	}
	return nil
}

// Check says whether files can be written into dir: none of them may be
// there, and dir's migrations folder, if any, may hold no migration (a
// new project's would be numbered among them).
func Check(dir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if _, err := os.Lstat(p); err == nil {
			return &ExistsError{Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	sqls, err := filepath.Glob(filepath.Join(dir, "migrations", "*.sql"))
	if err != nil {
		return err
	}
	if len(sqls) > 0 {
		return &ExistsError{Path: sqls[0], Migrations: true}
	}
	return nil
}

// Package project ties a Percolate project folder together: its
// pipelines.yaml, its models, its migrations, its database (given by URL
// or the embedded cluster under .percolate/) and its hash key.
package project

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/loaders"
)

// StateDir is the folder, inside the project, that holds the embedded
// database and the hash key.
const StateDir = ".percolate"

// Options are what a project takes from its surroundings (the command
// line, the environment), read by the caller.
type Options struct {
	// Config is the pipelines file, relative to the folder unless
	// absolute; empty means pipelines.yaml.
	Config string
	// DatabaseURL is the database to use; empty means the embedded cluster
	// under .percolate/pg, started when needed.
	DatabaseURL string
	// HashKey is the secret order ids are made with; empty means the one
	// kept in .percolate/hash.key (made on first use).
	HashKey string
	// ReaderPassword, when set, is given to the read-only role
	// percolate_grafana by every run and migrate up.
	ReaderPassword string
	// S3 configures the client that reads sources in buckets.
	S3 loaders.S3Options
}

// Folder is an opened project folder.
type Folder struct {
	Dir    string
	Config *config.File
	opt    Options
	ledger ledger.Store

	s3once sync.Once
	s3     *loaders.S3
	s3err  error

	// What Paths' stat said of each local file it listed: the load trusts
	// it rather than stat every file of the history twice.
	listedMu   sync.Mutex
	listed     map[string]loaders.Stat
	unreadable map[string][]string   // by source: what Paths matched and left out
	folders    map[string]folderList // by source: the folders the last listing read
}

// Open reads the pipelines file of the project in dir.
func Open(dir string, opt Options) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if opt.Config == "" {
		opt.Config = "pipelines.yaml"
	}
	path := opt.Config
	if !filepath.IsAbs(path) {
		path = filepath.Join(abs, path)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return &Folder{Dir: abs, Config: cfg, opt: opt}, nil
}

// Cluster is the project's embedded PostgreSQL cluster.
func (p *Folder) Cluster() (*pg.Cluster, error) {
	return pg.NewCluster(filepath.Join(p.Dir, StateDir, "pg"))
}

// hashKey is the secret order ids are made with.
func (p *Folder) hashKey() ([]byte, error) {
	if p.opt.HashKey != "" {
		// The same key whether it comes from here or the key file: a
		// newline left by echo or a secret store is not part of it.
		k := strings.TrimSpace(p.opt.HashKey)
		if k == "" {
			return nil, errors.New("the hash key given is blank")
		}
		return []byte(k), nil
	}
	return loaders.KeyFile(filepath.Join(p.Dir, StateDir, "hash.key"))
}

// DatabaseURL returns the database the project uses: the one it was
// opened with, else the embedded cluster's, starting the cluster if it is
// not running.
func (p *Folder) DatabaseURL(ctx context.Context) (string, error) {
	if p.opt.DatabaseURL != "" {
		return p.opt.DatabaseURL, nil
	}
	c, err := p.Cluster()
	if err != nil {
		return "", err
	}
	if err := c.Start(ctx); err != nil {
		return "", err
	}
	return c.URL()
}

// LocalURL is DatabaseURL as percolate itself connects to it: through
// the embedded cluster's Unix socket when it has one.
func (p *Folder) LocalURL(ctx context.Context) (string, error) {
	u, err := p.DatabaseURL(ctx)
	if err != nil || p.opt.DatabaseURL != "" {
		return u, err
	}
	c, err := p.Cluster()
	if err != nil {
		return "", err
	}
	return c.LocalURL()
}

// Connect opens the project's database (see LocalURL), with the ledger's
// migrations applied: every command may read the ledger.
func (p *Folder) Connect(ctx context.Context) (*pgxpool.Pool, error) {
	u, err := p.LocalURL(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := pg.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	if err := p.EnsureLedger(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Graph loads the models of the pipeline.
func (p *Folder) Graph(pl *config.Pipeline) (*dag.Graph, error) {
	root := filepath.Join(p.Config.Dir, pl.Models)
	rel, err := filepath.Rel(p.Dir, root)
	if err != nil || strings.HasPrefix(rel, "..") {
		return p.loadGraph(os.DirFS(filepath.Dir(root)), filepath.Base(root), pl)
	}
	return p.loadGraph(os.DirFS(p.Dir), filepath.ToSlash(rel), pl)
}

// SourceTables lists the staging tables a pipeline's sources write.
func SourceTables(pl *config.Pipeline) []string {
	var tables []string
	for t := range SourceOf(pl) {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	return tables
}

// MigrationsDir is the project's migrations folder.
func (p *Folder) MigrationsDir() string { return filepath.Join(p.Dir, "migrations") }

// Migrations returns the project's migrations folder: a project without
// one has none (the ledger's own come with the binary).
func (p *Folder) Migrations() fs.FS { return os.DirFS(p.MigrationsDir()) }

// S3 returns the project's S3 client, made on first use.
func (p *Folder) S3(ctx context.Context) (*loaders.S3, error) {
	p.s3once.Do(func() { p.s3, p.s3err = loaders.NewS3(ctx, p.opt.S3) })
	return p.s3, p.s3err
}

// loader returns a loader writing through pool, able to read the
// project's sources wherever they are.
func (p *Folder) loader(pool *pgxpool.Pool, opt loaders.Options) (*loaders.CSV, error) {
	opt.Root, opt.S3, opt.Listed = p.Dir, p.S3, p.statOf
	return loaders.New(pool, opt)
}

// Paths expands a source's glob (relative to pipelines.yaml, or an
// s3://bucket/prefix/*.csv address) into files, sorted; override replaces
// the glob for this run.
func (p *Folder) Paths(ctx context.Context, src *config.Source, override string) ([]string, error) {
	glob, err := p.glob(src, override)
	if err != nil {
		return nil, err
	}
	if loaders.IsS3(glob) {
		c, err := p.S3(ctx)
		if err != nil {
			return nil, err
		}
		return c.Glob(ctx, glob)
	}
	paths, err := filepath.Glob(glob)
	if err != nil {
		return nil, fmt.Errorf("source %s: path %q: %w", src.Name, glob, err)
	}
	files := paths[:0]
	p.listedMu.Lock()
	defer p.listedMu.Unlock()
	if p.listed == nil {
		p.listed = make(map[string]loaders.Stat, len(paths))
	}
	var unreadable []string
	for _, f := range paths {
		st, ok, err := loaders.StatFile(f)
		switch {
		case err != nil: // a broken link, a symlink loop, no permission
			unreadable = append(unreadable, p.unreadableWarning(src, f, err))
		case !ok:
			unreadable = append(unreadable, p.unreadableWarning(src, f, errNotFile))
		default:
			files = append(files, f)
			p.listed[f] = st
		}
	}
	if p.unreadable == nil {
		p.unreadable = map[string][]string{}
	}
	p.unreadable[src.Name] = unreadable
	sortByDay(src, files)
	return files, nil
}

// glob is the glob of src's files, absolute (or an s3:// address);
// override replaces the source's path for this run.
func (p *Folder) glob(src *config.Source, override string) (string, error) {
	glob := src.Path
	if override != "" {
		glob = override
	} else if !loaders.IsS3(glob) {
		glob = p.Config.Resolve(glob)
	}
	if loaders.IsS3(glob) {
		return glob, nil
	}
	// An override is typed on the command line: relative to where it was typed.
	return filepath.Abs(glob)
}

// Unreadable says, one warning each, what the last Paths of source
// matched but left out: entries that cannot be read or are not files.
func (p *Folder) Unreadable(source string) []string {
	p.listedMu.Lock()
	defer p.listedMu.Unlock()
	return p.unreadable[source]
}

// statOf returns what Paths' stat said of a local file.
func (p *Folder) statOf(path string) (loaders.Stat, bool) {
	p.listedMu.Lock()
	defer p.listedMu.Unlock()
	st, ok := p.listed[path]
	return st, ok
}

// sortByDay orders files by the day in their names, where the source
// declares one, then by name: loaded in that order, a day's rows sit
// together in staging, which keeps its BRIN indexes on the day tight.
func sortByDay(src *config.Source, files []string) {
	if src.FileDate == nil {
		slices.Sort(files)
		return
	}
	type dated struct {
		day  int64 // Unix seconds; files whose names hold no day first
		path string
	}
	byDay := make([]dated, len(files))
	for i, f := range files {
		byDay[i] = dated{day: math.MinInt64, path: f}
		if t, ok := src.FileDate.Date(filepath.Base(f)); ok {
			byDay[i].day = t.Unix()
		}
	}
	slices.SortFunc(byDay, func(a, b dated) int {
		return cmp.Or(cmp.Compare(a.day, b.day), strings.Compare(a.path, b.path))
	})
	for i, d := range byDay {
		files[i] = d.path
	}
}

// rel shows a path relative to the project when it is inside it.
func (p *Folder) rel(path string) string { return loaders.RelPath(p.Dir, path) }

// External reports whether the project was opened with a database URL
// (a server of the user's) rather than the embedded cluster.
func (p *Folder) External() bool { return p.opt.DatabaseURL != "" }

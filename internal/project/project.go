// Package project ties a Percolate project folder together: its
// pipelines.yaml, its models, its migrations, its database (given by URL
// or the embedded cluster under .percolate/) and its hash key.
package project

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/loaders"
	"github.com/percolate/percolate/migrations"
)

// StateDir is the folder, inside the project, that holds the embedded
// database and the hash key.
const StateDir = ".percolate"

// Project is an opened project folder.
type Project struct {
	Dir    string
	Config *config.File

	s3 *loaders.S3 // made on first use of an s3:// source
}

// Open reads the pipelines file (configPath, relative to dir unless
// absolute) of the project in dir.
func Open(dir, configPath string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(configPath) {
		configPath = filepath.Join(abs, configPath)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	return &Project{Dir: abs, Config: cfg}, nil
}

// Cluster is the project's embedded PostgreSQL cluster.
func (p *Project) Cluster() (*pg.Cluster, error) {
	return pg.NewCluster(filepath.Join(p.Dir, StateDir, "pg"))
}

// KeyFile is where the hash key is kept when $PERCOLATE_HASH_KEY is unset.
func (p *Project) KeyFile() string { return filepath.Join(p.Dir, StateDir, "hash.key") }

// DatabaseURL returns url if set, else $PERCOLATE_DATABASE_URL, else the
// embedded cluster's URL, starting the cluster if it is not running.
func (p *Project) DatabaseURL(ctx context.Context, url string) (string, error) {
	if url != "" {
		return url, nil
	}
	if u := os.Getenv(pg.EnvURL); u != "" {
		return u, nil
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

// Connect opens the project's database (see DatabaseURL).
func (p *Project) Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	u, err := p.DatabaseURL(ctx, url)
	if err != nil {
		return nil, err
	}
	return pg.Connect(ctx, u)
}

// Graph loads the models of the pipeline.
func (p *Project) Graph(pl *config.Pipeline) (*dag.Graph, error) {
	root := filepath.Join(p.Config.Dir, pl.Models)
	rel, err := filepath.Rel(p.Dir, root)
	if err != nil || strings.HasPrefix(rel, "..") {
		return dag.Load(os.DirFS(filepath.Dir(root)), filepath.Base(root), SourceTables(pl), []string{"percolate"})
	}
	return dag.Load(os.DirFS(p.Dir), filepath.ToSlash(rel), SourceTables(pl), []string{"percolate"})
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
func (p *Project) MigrationsDir() string { return filepath.Join(p.Dir, "migrations") }

// Migrations returns the project's migrations folder, or the migrations
// built into the binary when the project has none of its own.
func (p *Project) Migrations() fs.FS {
	if st, err := os.Stat(p.MigrationsDir()); err == nil && st.IsDir() {
		return os.DirFS(p.MigrationsDir())
	}
	return migrations.FS
}

// S3 returns the project's S3 client, made from the environment on first
// use.
func (p *Project) S3(ctx context.Context) (*loaders.S3, error) {
	if p.s3 == nil {
		c, err := loaders.NewS3(ctx, "")
		if err != nil {
			return nil, err
		}
		p.s3 = c
	}
	return p.s3, nil
}

// Loader returns a loader writing through pool, able to read the
// project's sources wherever they are.
func (p *Project) Loader(ctx context.Context, pool *pgxpool.Pool, key []byte) (*loaders.Loader, error) {
	ld := loaders.New(pool, key)
	ld.Root = p.Dir
	ld.S3 = p.s3
	ld.NewS3 = p.S3
	return ld, nil
}

// Paths expands a source's glob (relative to pipelines.yaml, or an
// s3://bucket/prefix/*.csv address) into files, sorted; override replaces
// the glob for this run.
func (p *Project) Paths(ctx context.Context, src *config.Source, override string) ([]string, error) {
	glob := src.Path
	if override != "" {
		glob = override
	} else if !loaders.IsS3(glob) {
		glob = p.Config.Resolve(glob)
	}
	if loaders.IsS3(glob) {
		c, err := p.S3(ctx)
		if err != nil {
			return nil, err
		}
		return c.Glob(ctx, glob)
	}
	// An override is typed on the command line: relative to where it was typed.
	glob, err := filepath.Abs(glob)
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(glob)
	if err != nil {
		return nil, fmt.Errorf("source %s: path %q: %w", src.Name, glob, err)
	}
	files := paths[:0]
	for _, f := range paths {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files, nil
}

// rel shows a path relative to the project when it is inside it.
func (p *Project) rel(path string) string { return loaders.RelPath(p.Dir, path) }

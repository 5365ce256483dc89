// Package cli is the percolate command line: a function of its arguments
// and streams, so tests run the real CLI into buffers.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/project"
)

// Exit codes, documented in the README and in `percolate --help`.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // a run, load, model build or check failed
	ExitUsage   = 2 // bad flags, arguments, pipelines.yaml or model files
	ExitBusy    = 3 // another run holds the lock on the database
	// ExitInterrupted is a command stopped by SIGINT or SIGTERM, as shells
	// number it (128 + SIGINT): not a failure; the same command resumes.
	ExitInterrupted = 130
)

// The environment variables percolate reads: only here, at the edge, and
// handed to the libraries as values.
const (
	EnvDatabaseURL    = "PERCOLATE_DATABASE_URL"
	EnvHashKey        = "PERCOLATE_HASH_KEY"
	EnvReaderPassword = "PERCOLATE_GRAFANA_PASSWORD"
	EnvS3Endpoint     = "PERCOLATE_S3_ENDPOINT"
	// EnvNotifyURL receives a run's report (JSON, POST) when it fails.
	EnvNotifyURL = "PERCOLATE_NOTIFY_URL"
)

// app holds what every command shares: the global flags and the streams.
type app struct {
	dir, configPath, dbURL string
	cpuProfile             string
	stdin                  io.Reader
	stdout, stderr         io.Writer
	disp                   displayFlags
	started                bool
}

// Main runs percolate with args (without the program name) and returns the
// exit code. Ctrl-C cancels the context: the command stops cleanly.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	limitMemory(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, stdin, stdout, stderr)
}

// memoryLimit is the process's soft memory limit (debug.SetMemoryLimit)
// unless GOMEMLIMIT sets one. The collector then runs more often as the
// heap nears it instead of letting it grow to twice what is live: the
// year's backfill and run peaked at 169–194 MiB resident without it, at
// 164–180 MiB with it, in no more time (bench --shape year, two runs
// each). It is soft: a load that needs more gets more, the collector using
// at most half the CPU meanwhile.
const memoryLimit = 150 << 20

// limitMemory sets memoryLimit, unless the environment (getenv) has
// GOMEMLIMIT, which the runtime has read already.
func limitMemory(getenv func(string) (string, bool)) {
	if _, set := getenv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// Run is Main with a context of the caller's.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && !errors.As(err, new(*project.InterruptedError)) {
		// Stopped outside a recorded run (listing files, waiting for the
		// lock, a command that publishes nothing).
		err = &project.InterruptedError{Err: err, Nothing: true}
	}
	err = a.explain(err)
	code := a.exitCode(err)
	fmt.Fprintln(stderr, wrap("percolate: "+err.Error(), termWidth(stderr)))
	if code == ExitUsage && !a.started {
		fmt.Fprintln(stderr, "Run 'percolate --help' for usage.")
	}
	return code
}

func (a *app) exitCode(err error) int {
	var cfgErr *config.Error
	var modelErr *dag.Error
	switch {
	case !a.started:
		return ExitUsage
	case errors.As(err, &cfgErr), errors.As(err, &modelErr), errors.As(err, new(*project.SeedError)), errors.Is(err, dag.ErrNoModels), errors.Is(err, errUsage), errors.Is(err, dag.ErrSelector):
		return ExitUsage
	case errors.Is(err, project.ErrBusy):
		return ExitBusy
	case errors.As(err, new(*project.InterruptedError)):
		return ExitInterrupted
	}
	return ExitFailure
}

// explain words library errors in the terms of the command line: its
// flags and environment variables.
func (a *app) explain(err error) error {
	var unknown *project.UnknownSourceError
	switch {
	case errors.As(err, &unknown):
		return usagef("--source %s: pipeline %s has no such source (it has: %v)", unknown.Source, unknown.Pipeline, unknown.Known)
	case errors.Is(err, project.ErrBusy):
		return fmt.Errorf("%w; add --wait to wait for it to finish", err)
	case errors.Is(err, project.ErrKeyMismatch):
		return fmt.Errorf("%w; set %s to the key the database was loaded with", err, EnvHashKey)
	}
	return err
}

// flush writes what a command printed into b to stdout, its lines
// wrapped to fit when stdout is a terminal.
func (a *app) flush(b *strings.Builder) {
	io.WriteString(a.stdout, wrap(b.String(), termWidth(a.stdout)))
}

var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "percolate",
		Short: "Load raw files into PostgreSQL and build SQL models on them",
		Long: `Percolate runs the pipelines declared in pipelines.yaml: it loads each source's
files (CSV) into typed staging tables, with personal data dropped and row keys
hashed, then builds the SQL models under models/ in dependency order.

The database is --database-url, else $PERCOLATE_DATABASE_URL, else the embedded
default: a PostgreSQL cluster that percolate creates under .percolate/ from the
machine's PostgreSQL binaries and leaves running (see 'percolate db').

Exit codes: 0 ok; 1 a run, load or build failed; 2 bad usage, pipelines.yaml,
model or dashboard declaration; 3 another run holds the database (see run --wait); 130 interrupted
(Ctrl-C or SIGTERM) at a safe point: run the same command to resume.`,
		Example: `  percolate init demo                   # a new project that runs, to edit into yours
  percolate run                         # load the sample data, build every model
  percolate run sales --source invoices='incoming/*.csv'
  percolate validate                    # check pipelines.yaml and models, no database
  percolate db psql                     # open the embedded database`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.started = true
			if a.disp.logFormat != "text" && a.disp.logFormat != "json" {
				return usagef("--log-format %q: want text or json", a.disp.logFormat)
			}
			if a.disp.quiet && a.disp.verbose {
				return usagef("--quiet and --verbose: choose one")
			}
			if a.cpuProfile == "" {
				return nil
			}
			f, err := os.Create(a.cpuProfile)
			if err != nil {
				return err
			}
			return pprof.StartCPUProfile(f)
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) {
			if a.cpuProfile != "" {
				pprof.StopCPUProfile()
			}
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&a.dir, "project", "C", ".", "project folder (holds pipelines.yaml, models/, .percolate/)")
	pf.StringVarP(&a.configPath, "config", "f", "pipelines.yaml", "pipelines file, relative to the project folder")
	pf.StringVar(&a.dbURL, "database-url", "", "PostgreSQL URL (default $"+EnvDatabaseURL+", else the embedded database)")
	pf.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	pf.BoolVarP(&a.disp.verbose, "verbose", "v", false, "without a terminal, a log line per file and per model (on a terminal the status line shows them)")
	pf.BoolVarP(&a.disp.quiet, "quiet", "q", false, "print only the summary and errors")
	pf.StringVar(&a.disp.logFormat, "log-format", "text", "progress on stderr as text, or json: one object per event (file, model, phase), for machines")
	root.AddCommand(a.initCmd(), a.runCmd(), a.loadCmd(), a.validateCmd(), a.modelsCmd(), a.migrateCmd(), a.dbCmd(), a.rejectsCmd(), a.filesCmd(), a.checkSourcesCmd(), a.generateCmd(), a.benchCmd(), a.planCmd(), a.testCmd(), a.diffCmd(), a.backfillCmd(), a.grafanaCmd(), a.envCmd())
	root.AddCommand(a.docsCmd())
	root.AddCommand(a.watchCmd())
	return root
}

// project opens the project folder with what the command line and the
// environment say.
func (a *app) project() (*project.Folder, error) {
	url := a.dbURL
	if url == "" {
		url = os.Getenv(EnvDatabaseURL)
	}
	return project.Open(a.dir, project.Options{
		Config:         a.configPath,
		DatabaseURL:    url,
		HashKey:        os.Getenv(EnvHashKey),
		ReaderPassword: os.Getenv(EnvReaderPassword),
		S3:             project.S3Options{Endpoint: os.Getenv(EnvS3Endpoint)},
	})
}

// graph opens the project and loads the models of the named pipeline.
func (a *app) graph(pipeline string) (*project.Folder, *dag.Graph, error) {
	p, err := a.project()
	if err != nil {
		return nil, nil, err
	}
	pl, err := p.Config.Pipeline(pipeline)
	if err != nil {
		return nil, nil, err
	}
	g, err := p.Graph(pl)
	return p, g, err
}

// connect opens the project and its database; close the pool when done.
func (a *app) connect(ctx context.Context) (*project.Folder, *pgxpool.Pool, error) {
	p, err := a.project()
	if err != nil {
		return nil, nil, err
	}
	pool, err := p.Connect(ctx)
	return p, pool, err
}

// dayRange parses --from and --to as days, the first not after the second.
func dayRange(from, to string) (time.Time, time.Time, error) {
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return f, f, usagef("--from %q: want YYYY-MM-DD", from)
	}
	t, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return f, t, usagef("--to %q: want YYYY-MM-DD", to)
	}
	if t.Before(f) {
		return f, t, usagef("--to %s is before --from %s", to, from)
	}
	return f, t, nil
}

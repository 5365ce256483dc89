package cli

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/loaders"
)

func (a *app) watchCmd() *cobra.Command {
	var (
		pipeline pipelineArg
		opt      project.WatchOptions
		sources  []string
	)
	cmd := &cobra.Command{
		Use:   "watch [PIPELINE]",
		Short: "Load each file as it arrives and publish its days, until stopped",
		Long: `Watch runs until stopped, watching every source of the pipeline: local folders
by their file-system events (and listed whole every --rescan, in case an event
was missed), sources in buckets by listing them every --poll.

A local file is taken once its size and modification time stayed the same for
--settle (a file still being written is not loaded half); an object as soon as
it is listed (an object is whole once it exists). The files ready together are
one batch: loaded, their days built and published, as 'run' does, and recorded
in the ledger as a run of command watch (health.runs shows it). Files arriving
during a batch are the next batch.

The run lock is held during a batch only, so a 'run' or 'backfill' waits for
the batch under way at most. A batch that fails (the database restarting, say)
is tried again after 0.5s, 1s, 2s … up to 30s; the file manifest skips what it
had committed. SIGTERM or Ctrl-C lets the batch under way finish, then watch
exits 0. Each batch logs one line on stderr (JSON with --log-format json).`,
		Example: `  percolate watch
  percolate watch sales --settle 2s --poll 30s --log-format json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opt.Pipeline, err = pipeline.name(args); err != nil {
				return err
			}
			if err := checkCount("--jobs", opt.Jobs); err != nil {
				return err
			}
			opt.Sources = map[string]string{}
			for _, s := range sources {
				name, glob, ok := strings.Cut(s, "=")
				if !ok || name == "" || glob == "" {
					return usagef("--source %q: want NAME=GLOB, e.g. --source transactions='incoming/*.csv'", s)
				}
				opt.Sources[name] = glob
			}
			if opt.Settle == 0 {
				opt.Settle = -1 // --settle 0: none, not the default
			}
			ctx := cmd.Context()
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			opt.OnBatch = a.logBatch()
			return p.Watch(ctx, pool, opt)
		},
	}
	pipeline.register(cmd)
	cmd.Flags().StringArrayVar(&sources, "source", nil, "replace a source's path glob for this watch: NAME=GLOB (repeatable)")
	cmd.Flags().DurationVar(&opt.Poll, "poll", project.DefaultPoll, "how often sources in buckets are listed")
	cmd.Flags().DurationVar(&opt.Settle, "settle", project.DefaultSettle, "how long a local file's size and modification time must stay the same before it is loaded")
	cmd.Flags().DurationVar(&opt.Rescan, "rescan", project.DefaultRescan, "how often local sources are listed whole, beside their events")
	cmd.Flags().IntVarP(&opt.Jobs, "jobs", "j", 0, "files loaded at once (default: the number of cores)")
	cmd.Flags().DurationVar(&opt.PublishWait, "publish-wait", time.Minute, "how long a publish waits for readers holding a table it replaces")
	return cmd
}

// logBatch returns what logs one line per batch.
func (a *app) logBatch() func(project.Batch) {
	var h slog.Handler = slog.NewTextHandler(a.stderr, nil)
	if a.disp.logFormat == "json" {
		h = slog.NewJSONHandler(a.stderr, nil)
	}
	log := slog.New(h)
	return func(b project.Batch) {
		attrs := []any{slog.Int("files", len(b.Files)), slog.Duration("took", b.Took)}
		level, msg := slog.LevelInfo, "batch"
		if s := b.Summary; s != nil {
			loaded, _, rejected := s.Rows()
			attrs = append(attrs, slog.Int64("run", s.RunID),
				slog.Int("loaded", s.Count(loaders.Loaded)), slog.Int("replaced", s.Count(loaders.Replaced)),
				slog.Int("skipped", s.Count(loaders.Skipped)), slog.Int("refused", s.Count(loaders.Refused)),
				slog.Int64("rows", loaded), slog.Int64("rejected", rejected), slog.Duration("loading", s.Loading),
				slog.Int("models_built", s.Built()), slog.Bool("published", s.Published))
		}
		if b.Err != nil {
			level = slog.LevelWarn
			attrs = append(attrs, slog.String("error", b.Err.Error()))
		}
		if b.Retry > 0 {
			level, msg = slog.LevelError, "batch failed"
			attrs = append(attrs, slog.Duration("retry_in", b.Retry))
		}
		log.Log(context.Background(), level, msg, attrs...)
	}
}

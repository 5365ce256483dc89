package cli

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/bench"
)

func (a *app) benchCmd() *cobra.Command {
	var shapes []string
	var data string
	var jobs, runs int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time percolate's load against psql's \\copy of the same files",
		Long: `Bench generates cafe data at scale (kept in --data between runs), then loads it
into fresh databases twice, on the same server: with one psql session running
\copy of every raw file into a table of the raw columns, and with 'percolate
load' (parse, type, drop personal data, hash order ids, explode baskets, binary
COPY). It prints orders/s for both and the ratio.

Shapes: one-file (1,000,000 orders in one file) and daily (10 branches × 365
days, ~300 orders a file). The shape append-day times the run that adds one
new day of files after 30 days of history and after 365, and prints the ratio
(incremental models keep it flat).`,
		Example: `  percolate bench --shape daily
  percolate bench --shape one-file --shape daily --data /var/tmp/percolate-bench
  percolate bench --shape append-day`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := a.project()
			if err != nil {
				return err
			}
			u, err := p.LocalURL(ctx)
			if err != nil {
				return err
			}
			for _, name := range shapes {
				if name == "year" {
					if _, err := bench.Year(ctx, bench.Options{DataDir: data, URL: u, Project: p, Jobs: jobs, Out: a.stdout}, runs); err != nil {
						return fmt.Errorf("bench year: %w", err)
					}
					continue
				}
				if name == "append-day" {
					fmt.Fprintln(a.stdout, "append-day:")
					if err := bench.AppendDay(ctx, bench.Options{DataDir: data, URL: u, Project: p, Jobs: jobs, Out: a.stdout}); err != nil {
						return fmt.Errorf("bench append-day: %w", err)
					}
					continue
				}
				s, ok := bench.Shapes[name]
				if !ok {
					var known []string
					for k := range bench.Shapes {
						known = append(known, k)
					}
					sort.Strings(known)
					return usagef("--shape %q: want one of %v", name, known)
				}
				if _, err := bench.Run(ctx, bench.Options{Shape: s, DataDir: data, URL: u, Project: p, Jobs: jobs, Out: a.stdout}); err != nil {
					return fmt.Errorf("bench %s: %w", name, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&shapes, "shape", []string{"one-file", "daily"}, "year, one-file, daily or append-day (repeatable)")
	cmd.Flags().StringVar(&data, "data", filepath.Join(".percolate", "bench"), "folder for the generated files")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", runtime.NumCPU(), "files percolate loads at once")
	cmd.Flags().IntVar(&runs, "runs", 3, "year: runs of each job (the median is reported)")
	return cmd
}

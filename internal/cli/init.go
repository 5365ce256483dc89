package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/scaffold"
)

func (a *app) initCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Start a project that runs: pipelines.yaml, a sample file, a model and its test, a migration",
		Long: `Init writes a new project into DIR (default: the project folder, -C, itself;
made if needed): a small example that runs as it is, to edit into your own.

  pipelines.yaml                 one source, every key explained in a comment
  data/trips/…csv                a day of its sample file
  models/marts/station_days.sql  one model: a SELECT on the source's staging table
  models/marts/….test.yaml       its unit test: rows in, rows out
  migrations/00001_…sql          the source's staging table, made from its contract
  .gitignore                     .percolate/ (the embedded database and the hash key)

It never overwrites a file: if any of these is there already, or migrations/
holds migrations, it says which and writes nothing.

To make it yours: describe your files as a source in pipelines.yaml (their
path, header, the columns in file order with their types, the columns a row's
key is made of), write its staging table with 'percolate migrate create
--source NAME', check with 'percolate validate', write your models under
models/<schema>/<name>.sql, and run. Delete the example's source, data, model
and migration when you no longer need them.`,
		Example: `  percolate init demo && cd demo && percolate run
  percolate init                         # into the current folder`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.dir
			if len(args) == 1 {
				dir = args[0]
				if !filepath.IsAbs(dir) {
					dir = filepath.Join(a.dir, dir)
				}
			}
			files, err := scaffold.Files()
			if err != nil {
				return err
			}
			if err := scaffold.Write(dir, files); err != nil {
				var exists *scaffold.ExistsError
				if errors.As(err, &exists) {
					return fmt.Errorf("init: %w; nothing written", err)
				}
				return fmt.Errorf("init: %w", err)
			}
			a.printInit(dir, files)
			return nil
		},
	}
}

// printInit says what init wrote and what to run next.
func (a *app) printInit(dir string, files []scaffold.File) {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "created %s\n", filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	b.WriteString("\nNext:\n")
	if filepath.Clean(dir) != "." {
		fmt.Fprintf(&b, "  cd %s\n", dir)
	}
	b.WriteString(`  percolate run                # load data/trips/*.csv, build marts.station_days
  percolate test --unit        # the model's unit test
  percolate db psql -- -c 'TABLE marts.station_days'
Then describe your own files in pipelines.yaml, 'percolate migrate create
--source NAME' for their staging table, 'percolate validate', and run again.
`)
	a.flush(&b)
}

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/generate"
)

func (a *app) generateCmd() *cobra.Command {
	var (
		opt      generate.Options
		from, to string
		branches int
		names    []string
	)
	cmd := &cobra.Command{
		Use:   "generate --out DIR",
		Short: "Write realistic, fake cafe files (for demos, tests and benchmarks)",
		Long: `Generate writes one CSV per branch per day, named and laid out like the chain's
real files (layout a: chesterfield_25-08-2021_09-00-00.csv; layout b, the legacy
one: 2021-02-23-isle-of-wight.csv), with fake customer names and card numbers.
The same flags and --seed always write the same bytes.`,
		Example: `  percolate generate --out /tmp/cafe --branches 10 --from 2022-01-01 --to 2022-12-31
  percolate generate --out /tmp/legacy --layout b --from 2021-02-01 --to 2021-02-28`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opt.From, opt.To, err = dayRange(from, to); err != nil {
				return err
			}
			if opt.Layout != generate.LayoutA && opt.Layout != generate.LayoutB {
				return usagef("--layout must be a or b")
			}
			if opt.Dir == "" {
				return usagef("--out DIR is required")
			}
			opt.Branches = names
			if len(names) == 0 {
				opt.Branches = generate.Branches(branches)
			}
			start := time.Now()
			st, err := generate.Write(opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %d files, %d orders, %d items, £%d.%02d revenue into %s in %s\n",
				st.Files, st.Orders, st.Items, st.Revenue/100, st.Revenue%100, opt.Dir, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opt.Dir, "out", "o", "", "folder to write into (created if missing)")
	f.StringVar(&opt.Layout, "layout", generate.LayoutA, "file layout: a (2021 onwards) or b (legacy)")
	f.IntVar(&branches, "branches", 3, "number of branches")
	f.StringArrayVar(&names, "branch", nil, "a branch by name, instead of --branches (repeatable)")
	f.StringVar(&from, "from", "2022-03-01", "first day, YYYY-MM-DD")
	f.StringVar(&to, "to", "2022-03-03", "last day, YYYY-MM-DD")
	f.IntVar(&opt.Orders, "orders", 300, "mean orders per branch per day")
	f.Uint64Var(&opt.Seed, "seed", 1, "random seed")
	return cmd
}

package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
)

func (a *app) filesCmd() *cobra.Command {
	var f project.FileFilter
	var output string
	cmd := &cobra.Command{
		Use:   "files",
		Short: "List the file manifest: what was loaded, replaced or refused, and why",
		Long: `Files lists the manifest, newest first: every file a run read, by its content
hash, with its status and rows.

  loaded    its rows are in staging
  replaced  newer content at its path (or its own content read again under a
            changed contract) took its place
  refused   nothing of it was loaded, for the reason shown: later runs pass over
            the same content with a warning, until it or its source's contract
            changes (a fixed contract reads it again)`,
		Example: `  percolate files --status refused
  percolate files --source transactions --limit 20
  percolate files --output json | jq '.files[] | select(.rows_rejected > 0)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.Status != "" && !slices.Contains([]string{"loaded", "replaced", "refused"}, f.Status) {
				return usagef("--status %q: want loaded, replaced or refused", f.Status)
			}
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			ctx := cmd.Context()
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			list, err := p.Files(ctx, pool, f)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"files": list})
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stdout, "no files")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LOAD\tSOURCE\tSTATUS\tROWS\tREJECTED\tRECORDED\tPATH")
			for _, e := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", e.LoadID, e.Source, e.Status, e.Rows, e.Rejected, e.At.Local().Format(time.DateTime), e.Path)
				if e.Reason != "" {
					first, _, _ := strings.Cut(e.Reason, "\n")
					fmt.Fprintf(tw, "\t\t\t\t\t\t  why: %s\n", first)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Source, "source", "", "only this source")
	cmd.Flags().StringVar(&f.Status, "status", "", "only files with this status: loaded, replaced or refused")
	cmd.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

package loaders

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/loader")

// TestCorpus loads every case of testdata/loader: a folder holding
// input.csv, the cafe source to load it as (source), optionally max_rejects
// and encoding to declare instead of the source's, and want.txt, the golden outcome: status, counts, the staged rows and
// the rejects. Add a case by adding a folder; refresh with -update.
func TestCorpus(t *testing.T) {
	cases, err := filepath.Glob("../testdata/loader/*/input.csv")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	pl := cafe(t)
	for _, input := range cases {
		dir := filepath.Dir(input)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pool := warehouse(t)
			name := strings.TrimSpace(readFile(t, filepath.Join(dir, "source")))
			src := *pl.Sources[name]
			if mr, err := os.ReadFile(filepath.Join(dir, "max_rejects")); err == nil {
				if err := yaml.Unmarshal(mr, &src.MaxRejects); err != nil {
					t.Fatal(err)
				}
			}
			if enc, err := os.ReadFile(filepath.Join(dir, "encoding")); err == nil {
				src.Encoding = strings.TrimSpace(string(enc))
			}
			res := load(t, pool, &src, input)[0]
			got := describe(t, pool, &src, res)
			golden := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); got != want {
				t.Errorf("got:\n%s\nwant (%s):\n%s", got, golden, want)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	return string(b)
}

// describe writes what a load did, in a stable, readable form.
func describe(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, src interface{}, r Result) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\nrows: %d loaded, %d items, %d rejected\n", r.Status, r.Loaded, r.Items, r.Rejected)
	if r.Err != nil {
		msg := strings.ReplaceAll(r.Err.Error(), r.Path, "input.csv")
		fmt.Fprintf(&b, "error: %s\n", msg)
	}
	query := func(title, sql string) {
		rows, err := pool.Query(context.Background(), sql)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	table := "staging.transactions"
	if r.Source == "legacy_transactions" {
		table = "staging.legacy_transactions"
	}
	query("orders", `SELECT concat_ws(' | ', source_line, to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || 'Z',
		ordered_local, sales_date, branch, total, payment_method,
		(SELECT string_agg(concat_ws(' ', coalesce(nullif(split_part(i.item, E'\t', 1), ''), '∅'), split_part(i.item, E'\t', 2), split_part(i.item, E'\t', 3)), ', ' ORDER BY i.n)
		 FROM unnest(string_to_array(o.items, E'\n')) WITH ORDINALITY AS i(item, n)))
		FROM `+table+` o ORDER BY source_line`)
	query("rejects", `SELECT concat_ws(' | ', line, coalesce(column_name, 'row'), reason, raw) FROM percolate.rejects ORDER BY line`)
	return b.String()
}

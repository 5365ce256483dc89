package loaders

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/config"
)

// branchFiles names days files a branch for each of branches, in the
// order a run loads them (by day, then by name), each of size bytes.
func branchFiles(dir string, branches []string, days int, size int64) ([]string, []Stat) {
	var paths []string
	var infos []Stat
	for d := 1; d <= days; d++ {
		for _, b := range branches {
			paths = append(paths, filepath.Join(dir, fmt.Sprintf("%s_%02d-03-2022_09-00-00.csv", b, d)))
			infos = append(infos, Stat{Size: size})
		}
	}
	return paths, infos
}

// TestGroupsByDistribution checks that where the files' names say the
// distribution column's value, each group of small files holds one value
// (in the files' order) when there are enough of them, that a value with
// few files shares a group rather than making one more, and that a source
// distributed by a column its file names do not say keeps the load's order.
func TestGroupsByDistribution(t *testing.T) {
	cafeSrc := cafe(t).Sources["transactions"]
	undistributed := *cafeSrc
	undistributed.DistributedBy = ""
	byDay, infos := branchFiles("/in", []string{"leeds", "york", "isle_of_wight"}, 30, 1<<20)
	night, nightInfos := branchFiles("/in", []string{"leeds", "york", "isle_of_wight", "bath"}, 1, 40<<10)
	var few []string
	var fewInfos []Stat
	for _, v := range []struct {
		branch string
		days   int
	}{{"aylesbury", 6}, {"bath", 1}, {"carlisle", 1}, {"derby", 1}} {
		p, in := branchFiles("/in", []string{v.branch}, v.days, 1<<20)
		few, fewInfos = append(few, p...), append(fewInfos, in...)
	}
	for _, tc := range []struct {
		name   string
		src    *config.Source
		paths  []string
		infos  []Stat
		groups []int    // files in each group
		values []string // the branches in each group
	}{
		{"a month of three branches: a value a group", cafeSrc, byDay, infos,
			[]int{8, 8, 8, 6, 8, 8, 8, 6, 8, 8, 8, 6}, []string{"isle of wight", "isle of wight", "isle of wight", "isle of wight", "leeds", "leeds", "leeds", "leeds", "york", "york", "york", "york"}},
		{"a night of four branches: one group", cafeSrc, night, nightInfos, []int{4}, []string{"bath isle of wight leeds york"}},
		{"values with few files share a group", cafeSrc, few, fewInfos, []int{6, 3}, []string{"aylesbury", "bath carlisle derby"}},
		{"not distributed: the load's order", &undistributed, byDay, infos,
			[]int{8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 2}, append(slices.Repeat([]string{"isle of wight leeds york"}, 11), "isle of wight york")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ld := &loading{CSV: &CSV{opt: Options{Jobs: 1}}, src: tc.src, paths: tc.paths, infos: tc.infos, results: make([]Result, len(tc.paths))}
			units := ld.units(nil)
			var sizes []int
			var values []string
			var all []int
			for _, u := range units {
				if u.alone {
					t.Fatalf("file %s alone, want every file in a group", tc.paths[u.files[0]])
				}
				sizes = append(sizes, len(u.files))
				var vs []string
				for k, i := range u.files {
					v := nameSays(tc.src.Columns[1], tc.paths[i])
					if !slices.Contains(vs, v) {
						vs = append(vs, v)
					}
					if k > 0 && nameSays(tc.src.Columns[1], tc.paths[u.files[k-1]]) == v && u.files[k-1] > i {
						t.Errorf("%s after %s: want a value's files in the load's order", tc.paths[i], tc.paths[u.files[k-1]])
					}
				}
				slices.Sort(vs)
				values = append(values, strings.Join(vs, " "))
				all = append(all, u.files...)
			}
			if !slices.Equal(sizes, tc.groups) {
				t.Errorf("files in each group: got %v, want %v", sizes, tc.groups)
			}
			if !slices.Equal(values, tc.values) {
				t.Errorf("branches in each group:\ngot  %q\nwant %q", values, tc.values)
			}
			slices.Sort(all)
			if len(all) != len(tc.paths) || len(slices.Compact(all)) != len(tc.paths) {
				t.Errorf("got %d files in groups, want each of the %d once", len(all), len(tc.paths))
			}
		})
	}
}

// TestGroupedLoadEqualsUngrouped loads the same files of three branches
// grouped by branch and in the load's order (the source not distributed),
// in groups of four files, and checks that staging, the sums and the
// manifest hold the same either way, file by file.
func TestGroupedLoadEqualsUngrouped(t *testing.T) {
	ctx := context.Background()
	src := *cafe(t).Sources["transactions"]
	src.MaxRejects = config.MaxRejects{Count: 1, Set: true} // a file with a rejected row loads
	undistributed := src
	undistributed.DistributedBy = ""
	dir := t.TempDir()
	branches := []string{"Leeds", "York", "Isle of Wight"}
	var paths []string
	for d := 1; d <= 4; d++ {
		for k, b := range branches {
			rows := fmt.Sprintf("%02d/03/2022 09:00,%s,Ann Lee,\"Large Latte - 2.45\",2.45,CASH,\n", d, b) +
				fmt.Sprintf("%02d/03/2022 09:0%d,%s,Bob Ray,\"Regular Latte - 2.15, Large Flat white - 2.45\",4.6,CARD,5494173772652516\n", d, k, b)
			if d == 2 {
				rows += rows[:strings.IndexByte(rows, '\n')+1] // a repeated order
			}
			if d == 3 && k == 1 {
				rows += fmt.Sprintf("03/03/2022 25:00,%s,Cy Dee,\"Latte - 2.15\",2.15,CASH,\n", b) // rejected
			}
			name := strings.ToLower(strings.ReplaceAll(b, " ", "_")) + fmt.Sprintf("_%02d-03-2022_09-00-00.csv", d)
			paths = append(paths, write(t, dir, name, rows))
		}
	}
	state := func(src *config.Source) [][]string {
		t.Helper()
		pool := warehouse(t)
		l, err := New(pool, Options{Key: testKey, Jobs: 2})
		if err != nil {
			t.Fatal(err)
		}
		l.test.groupFiles = 4
		res, err := l.Load(ctx, 0, src, paths)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != Loaded {
				t.Fatalf("%s: got %s (%v), want loaded", r.Path, r.Status, r.Err)
			}
		}
		var got [][]string
		for _, q := range []string{
			`SELECT path, size, content_hash, rows_loaded, rows_rejected, status, rows_fingerprint, contract FROM percolate.files`,
			`SELECT file, line, column_name, reason, raw FROM percolate.rejects`,
			`SELECT f.path, d.day FROM percolate.file_days d JOIN percolate.files f USING (load_id)`,
			`SELECT f.path, to_jsonb(s) - 'load_id' FROM staging.transactions s JOIN percolate.files f USING (load_id)`,
			`SELECT f.path, to_jsonb(s) - 'load_id' FROM staging.transaction_sums s JOIN percolate.files f USING (load_id)`,
			`SELECT f.path, to_jsonb(s) - 'load_id' FROM staging.transaction_item_sums s JOIN percolate.files f USING (load_id)`,
		} {
			rows := rowsOf(t, pool, q)
			slices.Sort(rows)
			got = append(got, rows)
		}
		return got
	}
	grouped, ungrouped := state(&src), state(&undistributed)
	for k, what := range []string{"manifest", "rejects", "days", "staging rows", "sums", "item sums"} {
		if len(grouped[k]) == 0 {
			t.Errorf("%s: none, want some", what)
		}
		sameRows(t, what, grouped[k], ungrouped[k])
	}
}

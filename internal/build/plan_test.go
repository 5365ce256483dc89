package build

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// project1000 is a generated project of 1,000 models in 10 layers, each
// model reading two of the layer before, with a header and a check.
func project1000() fstest.MapFS {
	fsys := fstest.MapFS{}
	for layer := 0; layer < 10; layer++ {
		for i := 0; i < 100; i++ {
			from := "staging.orders"
			join := "staging.orders"
			if layer > 0 {
				from = fmt.Sprintf("l%d.m%d", layer-1, i)
				join = fmt.Sprintf("l%d.m%d", layer-1, (i+1)%100)
			}
			sql := fmt.Sprintf("-- materialized: table\n-- tags: layer%d\n-- check: not_null(id)\nSELECT a.id, a.total + coalesce(b.total, 0) AS total\nFROM %s AS a\nLEFT JOIN %s AS b USING (id)\nWHERE a.total > %d\n", layer, from, join, i)
			fsys[fmt.Sprintf("models/l%d/m%d.sql", layer, i)] = &fstest.MapFile{Data: []byte(sql)}
		}
	}
	return fsys
}

// BenchmarkPlan1000Models measures what 'percolate plan' does for a project
// of 1,000 models: discover and parse them, resolve and order the graph,
// version every model, read the ledger's state and decide every step.
func BenchmarkPlan1000Models(b *testing.B) {
	ctx := context.Background()
	pool, _ := pgtest.Pool(b)
	if err := warehouseSchema(ctx, pool); err != nil {
		b.Fatal(err)
	}
	fsys := project1000()
	b.ResetTimer()
	for range b.N {
		g, err := dag.Load(fsys, "models", []string{"staging.orders"}, []string{"percolate"})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := NewPlan(ctx, pool, g, Options{Sources: map[string]string{"staging.orders": "orders"}})
		if err != nil {
			b.Fatal(err)
		}
		if plan.Builds() != 1000 {
			b.Fatalf("plan builds %d models, want 1000", plan.Builds())
		}
	}
}

func TestChunks(t *testing.T) {
	got := chunks([][2]string{{"2022-01-01", "2022-03-01"}, {"2022-03-05", "2022-03-06"}}, 31)
	want := [][2]string{{"2022-01-01", "2022-02-01"}, {"2022-02-01", "2022-03-01"}, {"2022-03-05", "2022-03-06"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chunks: got %v, want %v", got, want)
	}
}

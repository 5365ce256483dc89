package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestSnapshots keeps a menu's price history across three runs, by
// either strategy: the first records every row, a price rise closes the
// old price and records the new one, and building again on the same rows
// changes nothing; an item taken off the menu is closed.
func TestSnapshots(t *testing.T) {
	for _, c := range snapshotCases {
		t.Run(c.name, func(t *testing.T) { snapshotRuns(t, pgtest.URL(t), c) })
	}
}

// TestSnapshotsCitus: the same on Citus, where the history is a table of
// the coordinator's and the seed it reads a reference table (one case:
// the cluster has one database); a diff of the changed seed compares it
// there too.
func TestSnapshotsCitus(t *testing.T) {
	snapshotRuns(t, pgtest.CitusURL(t), snapshotCases[0])
}

// snapshotCase is a snapshot's strategy and the menus its runs see.
type snapshotCase struct {
	name, header, menu, contract string
	rise, removed                string // the menu after a price rise, and after Tea is taken off
	// validFrom is when the new Latte price holds: the row's
	// updated_at, or the run that saw it.
	validFrom string
}

var snapshotCases = []snapshotCase{
	{
		name:     "check_columns",
		header:   "-- check_columns: price\n",
		menu:     "item,price\nLatte,2.45\nTea,1.20\n",
		contract: "columns: {price: 'numeric(6,2)'}",
		rise:     "item,price\nLatte,2.65\nTea,1.20\n",
		removed:  "item,price\nLatte,2.65\n",
	},
	{
		name:      "updated_at",
		header:    "-- updated_at: updated_at\n",
		menu:      "item,price,updated_at\nLatte,2.45,2026-01-01 09:00:00\nTea,1.20,2026-01-01 09:00:00\n",
		contract:  "columns: {price: 'numeric(6,2)', updated_at: timestamp}",
		rise:      "item,price,updated_at\nLatte,2.65,2026-03-01 09:00:00\nTea,1.20,2026-01-01 09:00:00\n",
		removed:   "item,price,updated_at\nLatte,2.65,2026-03-01 09:00:00\n",
		validFrom: "2026-03-01 09:00:00",
	},
}

// snapshotRuns runs a project with a snapshot of a menu through a price
// rise and an item taken off, on the server at db.
func snapshotRuns(t *testing.T, db string, c snapshotCase) {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, dir, db, "init")
	b, err := os.ReadFile(filepath.Join(dir, "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "pipelines.yaml", string(b)+"\nseeds:\n  ref.menu:\n    key: [item]\n    "+c.contract+"\n")
	write(t, dir, "seeds/ref/menu.csv", c.menu)
	cols := "item, price"
	if c.validFrom != "" {
		cols += ", updated_at"
	}
	write(t, dir, "models/history/menu_prices.sql", "-- materialized: snapshot\n-- key: item\n"+c.header+
		"-- hard_deletes: invalidate\n-- check: not_null(item, valid_from)\nSELECT "+cols+" FROM ref.menu\n")
	pool := connect(t, db)
	history := `SELECT string_agg(item || ' ' || price || ' ' || (valid_to IS NULL), ', ' ORDER BY item, valid_from) FROM history.menu_prices`

	mustRun(t, dir, db, "run")
	if got := scalar[string](t, pool, history); got != "Latte 2.45 true, Tea 1.20 true" {
		t.Errorf("first run: got %q", got)
	}
	write(t, dir, "seeds/ref/menu.csv", c.rise)
	// diff records the rise in a copy of the history: the old price
	// closed (a row removed, one added), the new one added.
	if r := mustRun(t, dir, db, "diff", "--select", "history.menu_prices"); !strings.Contains(r.stdout, "history.menu_prices: 2 → 3 rows") || !strings.Contains(r.stdout, "added 2, removed 1") {
		t.Errorf("diff after the price rise: want the history's new rows:\n%s", r.stdout)
	}
	if got := scalar[string](t, pool, history); got != "Latte 2.45 true, Tea 1.20 true" {
		t.Errorf("after diff: got %q, want the history as it was", got)
	}
	if r := mustRun(t, dir, db, "run"); !strings.Contains(r.stdout, "history.menu_prices") || !strings.Contains(r.stdout, "snapshot") {
		t.Errorf("run after the price rise: want the snapshot built:\n%s", r.stdout)
	}
	if got := scalar[string](t, pool, history); got != "Latte 2.45 false, Latte 2.65 true, Tea 1.20 true" {
		t.Errorf("after the price rise: got %q", got)
	}
	if n := scalar[int64](t, pool, `SELECT count(*) FROM history.menu_prices AS o JOIN history.menu_prices AS n
				ON n.item = o.item AND n.valid_from = o.valid_to WHERE o.item = 'Latte'`); n != 1 {
		t.Errorf("the old price's valid_to is not the new one's valid_from (%d pairs)", n)
	}
	if c.validFrom != "" {
		if got := scalar[string](t, pool, `SELECT valid_from::timestamp::text FROM history.menu_prices WHERE item = 'Latte' AND valid_to IS NULL`); got != c.validFrom {
			t.Errorf("the new price holds from %s, want its updated_at %s", got, c.validFrom)
		}
	}
	// The third run, on the same rows, forced to build: nothing changes.
	if r := mustRun(t, dir, db, "run"); !strings.Contains(r.stdout, "models:  0 built") {
		t.Errorf("third run: want nothing to build:\n%s", r.stdout)
	}
	mustRun(t, dir, db, "run", "--full-refresh", "--select", "history.menu_prices")
	if got := scalar[string](t, pool, history); got != "Latte 2.45 false, Latte 2.65 true, Tea 1.20 true" {
		t.Errorf("built again on the same rows: got %q", got)
	}
	write(t, dir, "seeds/ref/menu.csv", c.removed)
	mustRun(t, dir, db, "run")
	if got := scalar[string](t, pool, history); got != "Latte 2.45 false, Latte 2.65 true, Tea 1.20 false" {
		t.Errorf("after Tea was taken off the menu: got %q", got)
	}
}

// TestSnapshotErrors: a snapshot without what it needs is a usage error
// naming the model.
func TestSnapshotErrors(t *testing.T) {
	url := pgtest.URL(t)
	cases := []struct{ name, sql, want string }{
		{"no key", "-- materialized: snapshot\n-- check_columns: minutes\nSELECT trip_id, minutes FROM staging.trips\n", "models/history/trips.sql: a snapshot needs -- key:"},
		{"both strategies", "-- materialized: snapshot\n-- key: trip_id\n-- check_columns: minutes\n-- updated_at: started_at\nSELECT trip_id, minutes, started_at FROM staging.trips\n", "models/history/trips.sql:3: a snapshot needs one of -- updated_at"},
		{"not a column", "-- materialized: snapshot\n-- key: trip_id\n-- check_columns: fare\nSELECT trip_id, minutes FROM staging.trips\n", "models/history/trips.sql:3: fare is not a column of the model"},
		{"not a snapshot", "-- materialized: table\n-- updated_at: started_at\nSELECT trip_id, started_at FROM staging.trips\n", "models/history/trips.sql:2: updated_at, check_columns and hard_deletes are a snapshot's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			mustRun(t, dir, url, "init")
			write(t, dir, "models/history/trips.sql", c.sql)
			r := percolate(t, dir, url, "validate")
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("validate: got exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, c.want)
			}
		})
	}
}

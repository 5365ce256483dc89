package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestSeedsCitus: on Citus a seed is a reference table, a copy on every
// node, and a change to its rows reaches the mart that reads it as on one
// server.
func TestSeedsCitus(t *testing.T) {
	url := pgtest.CitusURL(t)
	dir := seedProject(t, url)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	if got := scalar[string](t, pool, `SELECT coalesce((SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = 'ref.stations'::regclass), 'local')`); got != "n" {
		t.Errorf("ref.stations on Citus: partition method %q, want n (a reference table)", got)
	}
	zone1 := `SELECT coalesce(sum(trips), 0)::bigint FROM marts.zone_days WHERE zone = 1`
	paddington := scalar[int64](t, pool, `SELECT coalesce(sum(trips), 0)::bigint FROM marts.station_days WHERE start_station = 'Paddington'`)
	before := scalar[int64](t, pool, zone1)
	if paddington == 0 || before == 0 {
		t.Fatalf("the example has no trips from Paddington (%d) or zone 1 (%d): the test needs both", paddington, before)
	}
	write(t, dir, "seeds/ref/stations.csv", strings.Replace(stationsSeed, "Paddington,2,", "Paddington,1,", 1))
	seedDiffCitus(t, dir, url)
	if r := mustRun(t, dir, url, "run"); !strings.Contains(r.stdout, "seeds:   1 loaded") {
		t.Errorf("run after the seed's edit: want the seed loaded, got:\n%s", r.stdout)
	}
	if after := scalar[int64](t, pool, zone1); after != before+paddington {
		t.Errorf("zone 1's trips after Paddington joined it, on Citus: got %d, want %d + %d", after, before, paddington)
	}
	if got := scalar[string](t, pool, `SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = 'ref.stations'::regclass`); got != "n" {
		t.Errorf("ref.stations after its rows changed: partition method %q, want n", got)
	}
}

// seedDiffCitus: a diff of the changed seed on Citus shows its rows'
// change and the mart it reaches, as on one server, and leaves no
// relation behind, whether it succeeds or a model fails to build.
func seedDiffCitus(t *testing.T, dir, url string) {
	t.Helper()
	pool := connect(t, url)
	relations := `SELECT count(*) FROM pg_class`
	before := scalar[int64](t, pool, relations)
	diff := mustRun(t, dir, url, "diff")
	for _, want := range []string{"ref.stations: 4 → 4 rows, key (station)", "changed 1", `~ {"station":"Paddington"}: zone 2 → 1`, "marts.zone_days", "changed"} {
		if !strings.Contains(diff.stdout, want) {
			t.Errorf("diff after the seed's edit on Citus: want %q in:\n%s", want, diff.stdout)
		}
	}
	if after := scalar[int64](t, pool, relations); after != before {
		t.Errorf("relations after the diff: %d, want the %d before", after, before)
	}
	if got := scalar[int64](t, pool, `SELECT zone FROM ref.stations WHERE station = 'Paddington'`); got != 2 {
		t.Errorf("after diff, ref.stations holds Paddington in zone %d: a diff changes nothing", got)
	}
	// A model that fails to build: the diff fails, and still leaves
	// nothing behind.
	write(t, dir, "models/marts/zone_broken.sql", "SELECT s.zone, s.no_such_column FROM ref.stations AS s\n")
	if r := percolate(t, dir, url, "diff"); r.code != ExitFailure || !strings.Contains(r.stderr, "no_such_column") {
		t.Errorf("diff with a model that fails: exit %d, want 1 naming the column:\n%s", r.code, r.stderr)
	}
	if after := scalar[int64](t, pool, relations); after != before {
		t.Errorf("relations after the failed diff: %d, want the %d before", after, before)
	}
	if err := os.Remove(filepath.Join(dir, "models/marts/zone_broken.sql")); err != nil {
		t.Fatal(err)
	}
}

package cli

import (
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

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// stationsSeed is init's example project's stations, by zone: a seed.
const stationsSeed = `station,zone,opened
King's Cross,1,2010-07-30
Waterloo,1,2010-07-30
Paddington,2,2012-03-01
"Hyde Park Corner, West",1,2010-07-30
`

const seedsYAML = `
seeds:
  ref.stations:
    description: The hire stations and their fare zones.
    key: [station]
    columns: {zone: integer, opened: date}
`

// zoneDaysSQL reads the seed and init's example mart.
const zoneDaysSQL = `-- materialized: table
-- check: unique(zone, trip_date)
SELECT s.zone, d.trip_date, sum(d.trips)::integer AS trips
FROM marts.station_days AS d
JOIN ref.stations AS s ON s.station = d.start_station
GROUP BY s.zone, d.trip_date
`

const zoneDaysTest = `cases:
  - name: stations are summed by zone
    given:
      marts.station_days:
        - {start_station: Waterloo, trip_date: 2024-05-01, trips: 3}
        - {start_station: Bank, trip_date: 2024-05-01, trips: 4}
      ref.stations:
        - {station: Waterloo, zone: 1}
        - {station: Bank, zone: 1}
    expect:
      - {zone: 1, trip_date: 2024-05-01, trips: 7}
`

// seedProject is init's example project with the stations seed and a
// mart reading it.
func seedProject(t *testing.T, url string) string {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, dir, url, "init")
	b, err := os.ReadFile(filepath.Join(dir, "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "pipelines.yaml", string(b)+seedsYAML)
	write(t, dir, "seeds/ref/stations.csv", stationsSeed)
	write(t, dir, "models/marts/zone_days.sql", zoneDaysSQL)
	return dir
}

// TestSeeds loads a seed, rebuilds what reads it when (and only when) its
// rows change, and shows it in plan, diff and lineage.
func TestSeeds(t *testing.T) {
	url := pgtest.URL(t)
	dir := seedProject(t, url)
	pool := connect(t, url)

	if r := mustRun(t, dir, url, "plan"); !strings.Contains(r.stdout, "load ref.stations") || !strings.Contains(r.stdout, "new seed (seeds/ref/stations.csv)") {
		t.Errorf("plan before the first run: want ref.stations to load as a new seed, got:\n%s", r.stdout)
	}
	first := mustRun(t, dir, url, "run")
	if !strings.Contains(first.stdout, "seeds:   1 loaded, 0 unchanged") {
		t.Errorf("first run: want the seed loaded, got:\n%s", first.stdout)
	}
	if got := scalar[string](t, pool, `SELECT string_agg(station || ':' || zone || ':' || opened, ',' ORDER BY station) FROM ref.stations`); got != "Hyde Park Corner, West:1:2010-07-30,King's Cross:1:2010-07-30,Paddington:2:2012-03-01,Waterloo:1:2010-07-30" {
		t.Errorf("ref.stations: got %q", got)
	}
	if got := scalar[string](t, pool, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'ref.stations'::regclass AND attname = 'zone'`); got != "integer" {
		t.Errorf("ref.stations.zone: got type %s, want integer (its contract)", got)
	}
	zone1 := `SELECT coalesce(sum(trips), 0)::bigint FROM marts.zone_days WHERE zone = 1`
	paddington := scalar[int64](t, pool, `SELECT coalesce(sum(trips), 0)::bigint FROM marts.station_days WHERE start_station = 'Paddington'`)
	before := scalar[int64](t, pool, zone1)
	if paddington == 0 || before == 0 {
		t.Fatalf("the example has no trips from Paddington (%d) or zone 1 (%d): the test needs both", paddington, before)
	}

	// A killed diff's new rows are dropped by the next run, even when the
	// seed is not loaded again.
	if _, err := pool.Exec(context.Background(), "CREATE TABLE ref.stations__next (station text)"); err != nil {
		t.Fatal(err)
	}
	second := mustRun(t, dir, url, "run")
	if left := scalar[bool](t, pool, `SELECT to_regclass('ref.stations__next') IS NOT NULL`); left {
		t.Errorf("ref.stations__next after a run: want it dropped")
	}
	if !strings.Contains(second.stdout, "seeds:   0 loaded, 1 unchanged") || !strings.Contains(second.stdout, "models:  0 built") {
		t.Errorf("second run: want nothing loaded or built, got:\n%s", second.stdout)
	}

	// Paddington moves to zone 1: the mart reading the seed is rebuilt,
	// the one that does not is not.
	write(t, dir, "seeds/ref/stations.csv", strings.Replace(stationsSeed, "Paddington,2,", "Paddington,1,", 1))
	plan := mustRun(t, dir, url, "plan")
	for _, want := range []string{"load ref.stations", "changed (content", "build marts.zone_days", "seed ref.stations", "skip  marts.station_days"} {
		if !strings.Contains(plan.stdout, want) {
			t.Errorf("plan after the seed's edit: want %q in:\n%s", want, plan.stdout)
		}
	}
	diff := mustRun(t, dir, url, "diff")
	for _, want := range []string{"ref.stations: 4 → 4 rows, key (station)", "changed 1", `"Paddington"`, "marts.zone_days"} {
		if !strings.Contains(diff.stdout, want) {
			t.Errorf("diff after the seed's edit: want %q in:\n%s", want, diff.stdout)
		}
	}
	if got := scalar[int64](t, pool, `SELECT zone FROM ref.stations WHERE station = 'Paddington'`); got != 2 {
		t.Errorf("after diff, ref.stations holds Paddington in zone %d: a diff changes nothing", got)
	}
	third := mustRun(t, dir, url, "run")
	if !strings.Contains(third.stdout, "seeds:   1 loaded") || !strings.Contains(third.stdout, "models:  1 built") {
		t.Errorf("run after the seed's edit: want the seed and marts.zone_days alone, got:\n%s", third.stdout)
	}
	if after := scalar[int64](t, pool, zone1); after != before+paddington {
		t.Errorf("zone 1's trips after Paddington joined it: got %d, want %d + %d", after, before, paddington)
	}

	lin := mustRun(t, dir, url, "models", "lineage", "marts.zone_days.zone")
	if !strings.Contains(lin.stdout, "ref.stations.zone") {
		t.Errorf("lineage of marts.zone_days.zone: want the seed's column, got:\n%s", lin.stdout)
	}
	if r := mustRun(t, dir, url, "models", "lineage", "marts.zone_days", "--output", "json"); !strings.Contains(r.stdout, `"seeds": [
    "ref.stations"
  ]`) {
		t.Errorf("lineage of marts.zone_days --output json: want the seed it reads:\n%s", r.stdout)
	}
	// A unit test stands the seed in, of its contract's types.
	write(t, dir, "models/marts/zone_days.test.yaml", zoneDaysTest)
	if r := mustRun(t, dir, url, "test", "--unit", "--select", "marts.zone_days"); !strings.Contains(r.stdout, "ok   marts.zone_days") {
		t.Errorf("test --unit: want the case ok:\n%s", r.stdout)
	}
}

// TestBadSeed: a seed row that breaks its contract stops the run before
// anything is loaded, naming the file, line and column; the seed loaded
// before stays as it was.
func TestBadSeed(t *testing.T) {
	url := pgtest.URL(t)
	dir := seedProject(t, url)
	mustRun(t, dir, url, "run")
	pool := connect(t, url)
	cases := []struct {
		name, csv, want string
	}{
		{"not an integer", strings.Replace(stationsSeed, "Waterloo,1,", "Waterloo,one,", 1), `seeds/ref/stations.csv:3:10: column zone: "one" is not an integer`},
		{"not a date", strings.Replace(stationsSeed, "Paddington,2,2012-03-01", "Paddington,2,01/03/2012", 1), `seeds/ref/stations.csv:4:14: column opened: "01/03/2012" is not a date (YYYY-MM-DD)`},
		{"key twice", stationsSeed + "Waterloo,2,2011-01-01\n", `seeds/ref/stations.csv:6: key (station) = (Waterloo) is on line 3 too`},
		{"empty key", stationsSeed + ",2,2011-01-01\n", `seeds/ref/stations.csv:6:1: key column station is empty`},
		{"a field short", stationsSeed + "Bank,1\n", `seeds/ref/stations.csv:6:`},
		{"no declared column", "station,opened\nBank,2010-07-30\n", `seeds/ref/stations.csv:1: header: no column zone`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			write(t, dir, "seeds/ref/stations.csv", c.csv)
			r := percolate(t, dir, url, "run")
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("run: got exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, c.want)
			}
			if n := scalar[int64](t, pool, `SELECT count(*) FROM ref.stations`); n != 4 {
				t.Errorf("ref.stations after the refused run: %d rows, want the 4 loaded before", n)
			}
		})
	}
}

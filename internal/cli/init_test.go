package cli

import (
	"encoding/csv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/scaffold"
)

// TestInit makes a project as a new user would, on a database that holds
// nothing: it runs, a second run has nothing to do, it validates, and its
// unit test passes. The mart holds what the sample file sums to.
func TestInit(t *testing.T) {
	parent := t.TempDir()
	url := pgtest.URL(t)
	r := mustRun(t, parent, url, "init", "demo")
	dir := filepath.Join(parent, "demo")
	for _, want := range []string{"pipelines.yaml", "data/trips/trips_2024-05-01.csv", "models/marts/station_days.sql",
		"models/marts/station_days.test.yaml", "migrations/00001_trips_staging.sql", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("init wrote no %s: %v", want, err)
		}
		if !strings.Contains(r.stdout, "created "+filepath.Join(dir, want)) {
			t.Errorf("init's output does not name %s:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"cd " + dir, "percolate run", "percolate test --unit", "percolate migrate create"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("init's next steps lack %q:\n%s", want, r.stdout)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); !strings.Contains(string(b), ".percolate/") {
		t.Errorf(".gitignore: got %q, want .percolate/ in it", b)
	}

	if r := mustRun(t, dir, url, "validate"); !strings.Contains(r.stdout, "pipeline bikes: 1 sources, 1 models, 1 unit test cases: ok") {
		t.Errorf("validate:\n%s", r.stdout)
	}
	first := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(first.stdout); m == nil || m[1] != "1" || !strings.Contains(first.stdout, " 0 refused") || !strings.Contains(first.stdout, "0 rejected") {
		t.Fatalf("first run: want the sample file loaded, nothing refused or rejected, got:\n%s", first.stdout)
	}
	pool := connect(t, url)
	got := scalar[string](t, pool, `SELECT string_agg(start_station || '=' || trips || '/' || promo_trips || '/' || fares, '; ' ORDER BY start_station COLLATE "C") FROM marts.station_days`)
	if want := sampleStationDays(t, filepath.Join(dir, "data/trips/trips_2024-05-01.csv")); got != want {
		t.Errorf("marts.station_days: got %s, want %s", got, want)
	}
	second := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(second.stdout); m == nil || m[1] != "0" || m[2] != "0" || m[3] != "1" || !strings.Contains(second.stdout, "models:  0 built") {
		t.Errorf("second run: want nothing loaded or built, got:\n%s", second.stdout)
	}
	if r := mustRun(t, dir, url, "test", "--unit"); !strings.Contains(r.stdout, "ok   marts.station_days › trips are summed per start station and day") {
		t.Errorf("test --unit:\n%s", r.stdout)
	}
	mustRun(t, dir, url, "test")
}

// sampleStationDays sums the template's sample file with the standard
// library, as the mart should: trips, those with a promotion code (an
// optional column) and fares per start station.
func sampleStationDays(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	trips, promos, pence := map[string]int{}, map[string]int{}, map[string]int64{}
	for _, rec := range recs[1:] {
		trips[rec[2]]++
		promos[rec[2]] += btoi(rec[8] != "")
		pence[rec[2]] += penceOf(t, rec[6])
	}
	var out []string
	for st := range trips {
		out = append(out, st+"="+itoa(trips[st])+"/"+itoa(promos[st])+"/"+pounds(pence[st]))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// TestInitNeverOverwrites puts each file init would write, or a migration
// of the folder's own, in the folder first: init refuses, naming it, and
// writes nothing, not even a folder.
func TestInitNeverOverwrites(t *testing.T) {
	files, err := scaffold.Files()
	if err != nil {
		t.Fatal(err)
	}
	var present []string
	for _, f := range files {
		present = append(present, f.Path)
	}
	present = append(present, "migrations/00003_mine.sql")
	url := pgtest.URL(t)
	for _, p := range present {
		t.Run(p, func(t *testing.T) {
			dir := t.TempDir()
			mine := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(mine), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(mine, []byte("mine\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := listing(t, dir)
			r := percolate(t, dir, url, "init")
			if r.code != ExitFailure || !strings.Contains(r.stderr, mine+" exists") || !strings.Contains(r.stderr, "nothing written") {
				t.Errorf("got exit %d, stderr %q; want exit %d naming %s and nothing written", r.code, r.stderr, ExitFailure, mine)
			}
			if after := listing(t, dir); !slices.Equal(after, before) {
				t.Errorf("the folder held %v, then %v: init wrote something", before, after)
			}
			if b, _ := os.ReadFile(mine); string(b) != "mine\n" {
				t.Errorf("%s: got %q, want it untouched", p, b)
			}
		})
	}
}

// listing names every file and folder under dir.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestInitHelp teaches what init writes and that it never overwrites.
func TestInitHelp(t *testing.T) {
	r := percolate(t, t.TempDir(), "", "init", "--help")
	for _, want := range []string{"pipelines.yaml", "migrations/", "unit test", ".gitignore", "never overwrites", "percolate migrate create", "percolate init demo && cd demo && percolate run"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("init --help lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestInitMigrationIsMigrateCreate: the migration init writes is the one
// `migrate create --source` writes for the example's source.
func TestInitMigrationIsMigrateCreate(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "", "init")
	path := filepath.Join(dir, "migrations", "00001_trips_staging.sql")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "", "migrate", "create", "--source", "trips")
	if got, _ := os.ReadFile(path); string(got) != string(want) {
		t.Errorf("migrate create --source trips wrote\n%s\ninit wrote\n%s", got, want)
	}
}

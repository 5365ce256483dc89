package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pgtest"
)

// sharedSequence is the migrations folder of the release before the
// ledger had migrations of its own: the ledger's and the cafe's in one
// goose sequence, recorded in one version table.
var sharedSequence = filepath.Join(root, "testdata/upgrade/shared-sequence")

// TestUpgradeFromTheSharedSequence carries a warehouse of that release
// over to the ledger's own migrations: one whose schema its 32 migrations
// made, and one loaded and built, then run again by this release. Nothing
// is applied twice (goose would fail on a table made twice), no file is
// loaded again, the marts are unchanged, and the project's next migration
// is numbered and applied as usual.
func TestUpgradeFromTheSharedSequence(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	pool := connect(t, url)
	if _, err := migrate.Up(ctx, pool, os.DirFS(sharedSequence), migrate.ProjectTable); err != nil {
		t.Fatalf("the old release's migrations: %v", err)
	}
	oldRows := scalar[string](t, pool, `SELECT string_agg(version_id::text, ',' ORDER BY id) FROM percolate.goose_db_version`)

	dir := tempProject(t)
	first := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(first.stdout); m == nil || m[1] == "0" {
		t.Fatalf("first run on the upgraded warehouse loaded nothing:\n%s", first.stdout)
	}
	checkSplit(t, dir, url)
	before := snapshot(t, url)
	loaded := scalar[int](t, pool, `SELECT count(*) FROM percolate.files`)

	// As the old release left it after loading: the ledger's migrations
	// newer than it rolled back, and one version table.
	prov, db, err := migrate.Provider(ctx, pool, ledger.Migrations(), ledger.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.DownTo(ctx, 32); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, q := range []string{`DROP TABLE percolate.ledger_version`, `DELETE FROM percolate.goose_db_version`,
		`INSERT INTO percolate.goose_db_version (version_id, is_applied) SELECT v::bigint, true FROM unnest(string_to_array($1, ',')) AS v`} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, oldRows)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	again := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(again.stdout); m == nil || m[1] != "0" || m[2] != "0" {
		t.Errorf("run after the upgrade: want no file loaded or replaced, got:\n%s", again.stdout)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files`); n != loaded {
		t.Errorf("the manifest holds %d files after the upgrade, %d before", n, loaded)
	}
	if after := snapshot(t, url); !maps.Equal(before, after) {
		t.Errorf("the upgrade changed the warehouse:\nbefore %v\nafter  %v", before, after)
	}
	checkSplit(t, dir, url)

	// The project's next migration: numbered after its own newest file,
	// and applied (goose refuses one below a version left behind).
	ours, _ := filepath.Glob(filepath.Join(dir, "migrations", "*.sql"))
	newest, _ := strconv.Atoi(strings.SplitN(filepath.Base(ours[len(ours)-1]), "_", 2)[0])
	next := fmt.Sprintf("%05d_add_a_note.sql", newest+1)
	mustRun(t, dir, url, "migrate", "create", "add_a_note")
	files, _ := filepath.Glob(filepath.Join(dir, "migrations", "*_add_a_note.sql"))
	if len(files) != 1 || filepath.Base(files[0]) != next {
		t.Fatalf("migrate create wrote %v, want migrations/%s", files, next)
	}
	os.WriteFile(files[0], []byte("-- +goose Up\nCREATE TABLE staging.notes (note text);\n-- +goose Down\nDROP TABLE staging.notes;\n"), 0o644)
	if up := mustRun(t, dir, url, "migrate", "up"); !strings.Contains(up.stdout, "applied "+next) {
		t.Errorf("migrate up: want %s applied, got:\n%s", next, up.stdout)
	}
}

// checkSplit holds the version tables to the split layout: the ledger's
// table has every ledger migration, the project's only its own.
func checkSplit(t *testing.T, dir, url string) {
	t.Helper()
	pool := connect(t, url)
	ours, _ := filepath.Glob(filepath.Join(dir, "migrations", "*.sql"))
	var want []string
	for _, f := range ours {
		want = append(want, strings.TrimLeft(strings.SplitN(filepath.Base(f), "_", 2)[0], "0"))
	}
	slices.Sort(want)
	got := strings.Split(scalar[string](t, pool, `SELECT string_agg(DISTINCT version_id::text, ',' ORDER BY version_id::text) FROM percolate.goose_db_version WHERE version_id > 0`), ",")
	if !slices.Equal(got, want) {
		t.Errorf("the project's version table holds %v, want its own migrations %v", got, want)
	}
	if ok, err := ledger.Current(context.Background(), pool); err != nil || !ok {
		t.Errorf("the ledger's migrations are not all recorded as applied (err %v)", err)
	}
	if r := mustRun(t, dir, url, "migrate", "up"); !strings.Contains(r.stdout, "no pending migrations") {
		t.Errorf("migrate up after the upgrade applied something:\n%s", r.stdout)
	}
}

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// The orders of the good files as the marts count them.
const martOrders = `SELECT coalesce(sum(orders), 0)::int FROM marts.branch_daily_sales`

// TestOneBadFileNeverBlocksTheOthers: among good files, a header-only file
// (a branch closed that day) and another team's processed export (a header
// of another layout; rows that would otherwise load as garbage products)
// are refused; every other file loads, the marts are built from them, and
// the run exits 1 naming both. The refusals are remembered: the next run
// exits 0 with one warning line, until a file's content changes.
func TestOneBadFileNeverBlocksTheOthers(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	layoutA := filepath.Join(dir, "testdata/cafe/layout_a")
	closed := filepath.Join(layoutA, "york_01-03-2022_09-00-00.csv")
	export := filepath.Join(layoutA, "leeds-processed_01-03-2022_09-00-00.csv")
	writeFile(t, closed, "timestamp,branch,customer,basket,total,payment,card\n")
	writeFile(t, export, "date,location,customer_name,products,payment_type,total,card_number\n"+
		`01/03/2022 10:00,Leeds,Jane Doe,"Regular - Red Label tea - None - 1.20, Large - Latte - None - 2.45",3.65,CARD,nan`+"\n"+
		`01/03/2022 10:05,Leeds,John Roe,"Regular - Red Label tea - None - 1.20",1.20,CASH,nan`+"\n")

	r := percolate(t, dir, url, "run")
	if r.code != ExitFailure {
		t.Fatalf("got exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"york_01-03-2022_09-00-00.csv: refused: no data rows",
		`leeds-processed_01-03-2022_09-00-00.csv: refused: not a transactions file: its header names column 5 "payment_type", where the contract has total`,
	} {
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stderr, want) {
			t.Errorf("the summary and the error do not say %q\nstdout:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
		}
	}
	// The models were published: nothing says otherwise.
	if !regexp.MustCompile(`(?m)^published\s`).MatchString(r.stderr) || strings.Contains(r.stderr, "stopped") {
		t.Errorf("the progress does not say the publish committed:\n%s", r.stderr)
	}
	good := scalar[int](t, pool, `SELECT count(*)::int FROM staging.transactions`) + scalar[int](t, pool, `SELECT count(*)::int FROM staging.legacy_transactions`)
	if got := scalar[int](t, pool, martOrders); got == 0 || got != good {
		t.Errorf("marts count %d orders, want the %d of the good files", got, good)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM marts.product_daily_sales WHERE product LIKE '-%' OR product LIKE '% - None'`); n != 0 {
		t.Errorf("%d product rows from the processed export, want none", n)
	}

	r = mustRun(t, dir, url, "run")
	var warnings []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "warning:") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "refused earlier: ") || !strings.Contains(warnings[0], "york_01-03-2022") ||
		!strings.Contains(warnings[0], "leeds-processed") || !strings.Contains(warnings[0], "see percolate files") {
		t.Errorf("the next run warns %q, want one line naming both files\n%s", warnings, r.stdout)
	}

	r = mustRun(t, dir, url, "files", "--status", "refused", "--output", "json")
	var listed struct {
		Files []struct{ Path, Status, Reason string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("files --output json: %v\n%s", err, r.stdout)
	}
	if len(listed.Files) != 2 || listed.Files[0].Reason == "" || listed.Files[1].Status != "refused" {
		t.Errorf("refused files: %+v, want both, with their reasons", listed.Files)
	}

	// The branch opens after all: its file's new content loads.
	writeFile(t, closed, "timestamp,branch,customer,basket,total,payment,card\n"+
		`01/03/2022 09:00,York,Ann Poe,"Large Latte - 2.45",2.45,CARD,4111111111111111`+"\n")
	r = mustRun(t, dir, url, "run")
	if n := scalar[int](t, pool, `SELECT coalesce(sum(orders), 0)::int FROM marts.branch_daily_sales WHERE branch = 'York'`); n != 1 {
		t.Errorf("York: %d orders in the marts, want 1", n)
	}
	r = mustRun(t, dir, url, "files", "--status", "refused")
	if strings.Contains(r.stdout, "york_") || !strings.Contains(r.stdout, "leeds-processed") {
		t.Errorf("refused files after York's new content:\n%s", r.stdout)
	}
}

// TestNotUTF8ThenEncodingDeclared: a Windows-1252 byte in a UTF-8 file is
// a reject naming file, line, column and byte, and the run goes on. Once
// the source declares encoding: windows-1252, the next run reads exactly
// that file again (its contract changed, and it had a reject), replacing
// its rows once: the product is spelt right and no order counts twice.
func TestNotUTF8ThenEncodingDeclared(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	file := filepath.Join(dir, "testdata/cafe/layout_a/chesterfield_01-03-2022_09-00-00.csv")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	bad := -1
	for i, l := range lines {
		if strings.Contains(l, "Large Latte - ") {
			lines[i], bad = strings.Replace(l, "Large Latte - ", "Large Latt\xe9 - ", 1), i
			break
		}
	}
	if bad < 0 || len(lines) < 21 {
		t.Fatalf("%s: want 20 or more rows, one with a Large Latte", file)
	}
	writeFile(t, file, strings.Join(lines, "\n")+"\n")

	r := mustRun(t, dir, url, "run")
	if !strings.Contains(r.stdout, "1 rejected") {
		t.Errorf("the summary does not count the reject:\n%s", r.stdout)
	}
	r = mustRun(t, dir, url, "rejects")
	want := "chesterfield_01-03-2022_09-00-00.csv:" + strconv.Itoa(bad+1) + ": column 4 (basket) is not UTF-8: byte 0xe9 at byte "
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "encoding: windows-1252") {
		t.Errorf("rejects: got\n%s\nwant %q", r.stdout, want)
	}
	before := scalar[int](t, pool, martOrders)

	config := filepath.Join(dir, "pipelines.yaml")
	edit(t, config, "        header: auto\n        time_zone: Europe/London\n        max_rejects: 5%\n        table: staging.transactions\n",
		"        header: auto\n        encoding: windows-1252\n        time_zone: Europe/London\n        max_rejects: 5%\n        table: staging.transactions\n")
	r = mustRun(t, dir, url, "plan")
	if !strings.Contains(r.stdout, "read again") || !strings.Contains(r.stdout, "chesterfield_01-03-2022_09-00-00.csv") {
		t.Errorf("plan does not say the file is read again:\n%s", r.stdout)
	}
	replay(t, dir, url, before, 1)
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM marts.product_daily_sales WHERE product = 'Latté'`); n != 1 {
		t.Errorf("%d product rows for Latté, want 1", n)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.files WHERE status = 'loaded' AND path LIKE '%chesterfield_01-03%'`); n != 1 {
		t.Errorf("the file is loaded %d times in the manifest, want once", n)
	}
}

// TestFixedContractReplaysTheRefused is the example: a file of 3
// rows in a date layout the contract does not know is refused; once the
// layout is added, the next run reads only that file again: 0 rejects, +3
// orders.
func TestFixedContractReplaysTheRefused(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	file := filepath.Join(dir, "testdata/cafe/layout_a/derby_01-03-2022_09-00-00.csv")
	writeFile(t, file, `2022-03-01T09:00:00,Derby,Ann Poe,"Large Latte - 2.45",2.45,CARD,4111111111111111
2022-03-01T09:05:00,Derby,Bob Loe,"Regular Latte - 2.15",2.15,CASH,
2022-03-01T09:10:00,Derby,Cy Moe,"Large Mocha - 2.70",2.70,CARD,4111111111111111
`)
	if r := percolate(t, dir, url, "run"); r.code != ExitFailure || !strings.Contains(r.stderr, "derby_01-03-2022_09-00-00.csv: refused: 3 of 3 rows rejected") {
		t.Fatalf("got exit %d, want 1 naming the refused file\n%s", r.code, r.stderr)
	}
	before := scalar[int](t, pool, martOrders)
	edit(t, filepath.Join(dir, "pipelines.yaml"), `layouts: ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]`,
		`layouts: ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]`)
	if r := replay(t, dir, url, before, 3); !strings.Contains(r.stdout, "3 loaded") {
		t.Errorf("want 3 rows loaded:\n%s", r.stdout)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.files WHERE status = 'refused'`); n != 0 {
		t.Errorf("%d files still refused, want none", n)
	}
}

// replay runs after a contract change that one file, and only it, is read
// again for: it replaces its earlier self with no rejects, and the marts
// gain the orders it adds, no order twice.
func replay(t *testing.T, dir, url string, before, added int) result {
	t.Helper()
	r := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(r.stdout); m == nil || m[1] != "0" || m[2] != "1" {
		t.Errorf("files: %v, want exactly the one file read again (0 loaded, 1 replaced)\n%s", m, r.stdout)
	}
	if !strings.Contains(r.stdout, "its contract changed") || !strings.Contains(r.stdout, "0 rejected") {
		t.Errorf("the summary does not say the contract changed, or still rejects:\n%s", r.stdout)
	}
	if got := scalar[int](t, connect(t, url), martOrders); got != before+added {
		t.Errorf("marts count %d orders, want %d: the file's orders once, no other twice", got, before+added)
	}
	return r
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHashKeyIsTheSameKey: the key from PERCOLATE_HASH_KEY and from the
// key file are the same key whatever whitespace or newline trails them;
// another key against a loaded warehouse is refused with nothing loaded.
func TestHashKeyIsTheSameKey(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	run := func(env string, args ...string) result {
		t.Helper()
		t.Setenv(EnvHashKey, env)
		var out, errOut strings.Builder
		code := Run(context.Background(), append([]string{"-C", dir, "--database-url", url}, args...), strings.NewReader(""), &out, &errOut)
		return result{code, out.String(), errOut.String()}
	}
	if err := os.MkdirAll(filepath.Join(dir, ".percolate"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ".percolate/hash.key"), "s3cret key  \n")
	layoutB := "legacy_transactions=" + filepath.Join(dir, "testdata/cafe/layout_b/*-22-*.csv")
	if r := run("", "run", "--source", layoutB); r.code != ExitOK {
		t.Fatalf("with the key file: exit %d\n%s", r.code, r.stderr)
	}
	for _, env := range []string{"s3cret key\n", "  s3cret key\t"} {
		if r := run(env, "run"); r.code != ExitOK {
			t.Errorf("PERCOLATE_HASH_KEY=%q: exit %d, want 0: the same key as the file's\n%s", env, r.code, r.stderr)
		}
	}
	files := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.files`)
	r := run("another key", "run")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "the hash key differs from the one this database was loaded with") {
		t.Errorf("another key: exit %d, stderr %q; want refused", r.code, r.stderr)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.files`); n != files {
		t.Errorf("another key loaded %d files", n-files)
	}
}

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// swapped writes the generated file from with the columns i and j of
// every row (only: every row when 0) swapped into to, and returns the
// personal values it holds (the customer names and card numbers at their
// places in from: the columns named).
func swapped(t *testing.T, from, to string, i, j, only int, personal ...int) []string {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	recs, err := csv.NewReader(in).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for n, rec := range recs {
		if only > 0 && n+1 != only {
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, p := range personal {
			v := rec[p]
			if _, num, ok := strings.Cut(v, ","); ok { // layout B: "amex,4317…"
				values = append(values, num)
			}
			if v != "" {
				values = append(values, v)
			}
		}
		rec[i], rec[j] = rec[j], rec[i]
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	writeFile(t, to, b.String())
	return values
}

// TestSwappedColumnsLeakNothing: files whose payment and card, or branch
// and customer, columns are swapped are refused (exit 1), each refusal
// naming the file, the column and the rule; and no personal value of
// theirs is in the run's output, its JSON report, the webhook's payload,
// a later run's output or a dump of the database.
func TestSwappedColumnsLeakNothing(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	var mu sync.Mutex
	var posts [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, b)
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv(EnvNotifyURL, srv.URL)

	gen := t.TempDir()
	day := time.Date(2022, 3, 5, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: filepath.Join(gen, "a"), Layout: generate.LayoutA, Branches: []string{"Chesterfield", "Isle of Wight", "Leeds", "York"},
		From: day, To: day, Orders: 40, Seed: 26}); err != nil {
		t.Fatal(err)
	}
	if _, err := generate.Write(generate.Options{Dir: filepath.Join(gen, "b"), Layout: generate.LayoutB, Branches: []string{"Isle of Wight"},
		From: day, To: day, Orders: 40, Seed: 27}); err != nil {
		t.Fatal(err)
	}
	// The row of Leeds swapped is one paid by card: its number goes where
	// the payment should be.
	cardRow := 0
	for n, rec := range readCSV(t, filepath.Join(gen, "a/leeds_05-03-2022_09-00-00.csv")) {
		if rec[5] == "CARD" && cardRow == 0 {
			cardRow = n + 1
		}
	}
	layoutA, layoutB := filepath.Join(dir, "testdata/cafe/layout_a"), filepath.Join(dir, "testdata/cafe/layout_b")
	// Whole files swapped are refused; a file with one row swapped loads
	// the others, and its reject (row text and all) is stored.
	cases := []struct {
		file, from string
		i, j, only int
		personal   []int
		want       string
	}{
		// Layout A: ordered_at, branch, customer_name, basket, total, payment_method, card_number.
		{"chesterfield_05-03-2022_09-00-00.csv", "a/chesterfield_05-03-2022_09-00-00.csv", 5, 6, 0, []int{2, 6},
			"column 6 (payment_method): is not one of CASH, CARD"},
		{"isle_of_wight_05-03-2022_09-00-00.csv", "a/isle_of_wight_05-03-2022_09-00-00.csv", 1, 2, 0, []int{2, 6},
			"column 2 (branch): does not agree with the file's name (isle of wight, by file_name)"},
		{"leeds_05-03-2022_09-00-00.csv", "a/leeds_05-03-2022_09-00-00.csv", 5, 6, cardRow, []int{2, 6},
			"leeds_05-03-2022_09-00-00.csv:" + strconv.Itoa(cardRow) + ": column 6 (payment_method) is not one of CASH, CARD"},
		{"york_05-03-2022_09-00-00.csv", "a/york_05-03-2022_09-00-00.csv", 1, 2, 3, []int{2, 6},
			"york_05-03-2022_09-00-00.csv:3: column 2 (branch) does not agree with the file's name (york, by file_name)"},
		// Layout B: ordered_at, branch, customer_name, basket, payment_method, total, card.
		{"2022-03-05-isle-of-wight.csv", "b/2022-03-05-isle-of-wight.csv", 1, 2, 0, []int{2, 6},
			"column 2 (branch): does not agree with the file's name (isle of wight, by file_name)"},
	}
	var personal []string
	for _, c := range cases {
		to := filepath.Join(layoutA, c.file)
		if strings.HasPrefix(c.from, "b/") {
			to = filepath.Join(layoutB, c.file)
		}
		personal = append(personal, swapped(t, filepath.Join(gen, c.from), to, c.i, c.j, c.only, c.personal...)...)
	}
	if len(personal) < 100 {
		t.Fatalf("only %d personal values in the swapped files: the test would prove little", len(personal))
	}

	// Every statement the runs send is logged: their parameters (rejects
	// inserted, reasons recorded) are searched too.
	db := scalar[string](t, connect(t, url), "SELECT current_database()")
	if _, err := connect(t, url).Exec(context.Background(), "ALTER DATABASE "+pgtest.Quote(db)+" SET log_statement = 'all'"); err != nil {
		t.Fatal(err)
	}
	serverLog := openServerLog(t, url)
	logFrom := serverLog.end()

	r := percolate(t, dir, url, "run", "--output", "json")
	if r.code != ExitFailure {
		t.Fatalf("run: exit %d, want 1 (refused files)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Refused []struct{ Path, Reason string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("run --output json: %v\n%s", err, r.stdout)
	}
	rejects := percolate(t, dir, url, "rejects")
	for _, c := range cases {
		if c.only > 0 {
			if !strings.Contains(rejects.stdout, c.want) {
				t.Errorf("%s: want a reject saying %q; rejects:\n%s", c.file, c.want, rejects.stdout)
			}
			continue
		}
		found := false
		for _, f := range rep.Refused {
			found = found || (strings.HasSuffix(f.Path, c.file) && strings.Contains(f.Reason, c.want))
		}
		if !found {
			t.Errorf("%s: want it refused with %q; refused: %+v", c.file, c.want, rep.Refused)
		}
	}
	later := percolate(t, dir, url, "run") // refused earlier: said again
	if !strings.Contains(later.stdout+later.stderr, cases[0].file) {
		t.Errorf("the next run does not name %s\nstdout:\n%s\nstderr:\n%s", cases[0].file, later.stdout, later.stderr)
	}
	mu.Lock()
	webhook := bytes.Join(posts, []byte("\n"))
	mu.Unlock()
	if len(webhook) == 0 {
		t.Error("the webhook got nothing: its payload is not searched")
	}
	searched := map[string][]byte{
		"run stdout (json)": []byte(r.stdout), "run stderr": []byte(r.stderr),
		"next run stdout": []byte(later.stdout), "next run stderr": []byte(later.stderr),
		"webhook": webhook, "pg_dump --data-only": pgDump(t, url),
	}
	logged := serverLog.since(logFrom)
	if !strings.Contains(logged, "percolate.rejects") {
		t.Errorf("the server's log has no statement on percolate.rejects: is log_statement = all in force?")
	}
	searched["server log (log_statement = all)"] = []byte(logged)
	searched["rejects"] = []byte(rejects.stdout + rejects.stderr)
	for where, text := range searched {
		for _, v := range personal {
			if bytes.Contains(text, []byte(v)) {
				t.Errorf("%s holds the personal value %q", where, v)
			}
		}
	}
}

// TestLongLine: a file with a 200 MB line loads its other rows and rejects
// that line, naming the file and the line, with a stored reason of at most
// max_reason_bytes; the binary's peak memory stays far below the line.
func TestLongLine(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	data := t.TempDir()
	day := time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: []string{"Leeds"},
		From: day, To: day, Orders: 50, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(data, "leeds_01-03-2022_09-00-00.csv")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	const long = 200 << 20
	writeLong(t, name, lines[:10], long, lines[10:])

	bin := buildPercolate(t)
	cmd := exec.Command(bin, "-C", root, "--database-url", url, "load",
		"--source", "transactions="+name, "--source", "legacy_transactions="+filepath.Join(data, "none-*.csv"))
	cmd.Env = append(cmd.Environ(), "PERCOLATE_HASH_KEY=cli test key")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("load: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	if n := out.Len() + errOut.Len(); n > 64<<10 {
		t.Errorf("the load printed %d bytes, want at most 64 KiB", n)
	}
	if want := "leeds_01-03-2022_09-00-00.csv: 1 (first: line 11:"; !strings.Contains(out.String(), want) {
		t.Errorf("stdout does not say %q:\n%.2000s", want, out.String())
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	t.Logf("peak RSS of the load: %d MiB", peak>>20)
	if peak > 150<<20 {
		t.Errorf("the load's peak RSS was %d MiB for a %d MiB line: want at most 150 MiB", peak>>20, long>>20)
	}
	if got := scalar[int](t, pool, `SELECT count(*)::int FROM staging.transactions`); got != len(lines) {
		t.Errorf("staging: %d rows, want the %d other rows", got, len(lines))
	}
	var line, reason, raw int
	if err := pool.QueryRow(context.Background(), `SELECT line, length(reason), length(raw) FROM percolate.rejects`).Scan(&line, &reason, &raw); err != nil {
		t.Fatal(err)
	}
	if line != 11 || reason > 512 || raw > 512 {
		t.Errorf("reject: line %d, reason %d and raw %d characters; want line 11, at most 512 each", line, reason, raw)
	}
}

// writeLong writes to path the lines before, one line of n bytes (a row's
// fields, its basket n bytes long), then the lines after, streaming: the
// line is never in memory.
func writeLong(t *testing.T, path string, before []string, n int, after []string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range before {
		w.WriteString(l)
	}
	fmt.Fprint(w, `01/03/2022 12:00,Leeds,Jane Longline,"`)
	chunk := bytes.Repeat([]byte("Large Latte - 2.45, "), 1<<12)
	for written := 0; written < n; written += len(chunk) {
		w.Write(chunk)
	}
	fmt.Fprint(w, "Large Latte - 2.45\",2.45,CARD,4111111111111111\n")
	for _, l := range after {
		w.WriteString(l)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

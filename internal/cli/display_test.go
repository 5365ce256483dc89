package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/rivo/uniseg"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// month writes a month of 10 branches' daily files: 300 files.
func month(t *testing.T) (dir string, from, to string) {
	t.Helper()
	dir = t.TempDir()
	start := time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(10),
		From: start, To: start.AddDate(0, 0, 29), Orders: 15, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	return dir, "2022-03-01", "2022-03-30"
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// TestDisplayOnATerminal runs load and backfill of a generated month under
// an 80×24 pseudo-terminal: no line of text ever exceeds 80 columns, the
// status line is redrawn in place while loading (hardly a newline), and
// the build phase names every model it builds before its result line.
func TestDisplayOnATerminal(t *testing.T) {
	bin := buildPercolate(t)
	data, from, to := month(t)
	sources := []string{"--source", "transactions=" + filepath.Join(data, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")}
	for _, args := range [][]string{
		append([]string{"load"}, sources...),
		append([]string{"backfill", "--from", from, "--to", to}, sources...),
	} {
		t.Run(args[0], func(t *testing.T) {
			raw := underTerminal(t, bin, "xterm-256color", "", args...)
			if !strings.Contains(raw, "\x1b[32m") {
				t.Errorf("no colour on a colour terminal")
			}
			out := strings.ReplaceAll(ansi.ReplaceAllString(raw, ""), "\r\n", "\n")
			for _, line := range strings.Split(out, "\n") {
				for _, seg := range strings.Split(line, "\r") {
					if w := uniseg.StringWidth(seg); w > 80 {
						t.Errorf("a line of %d columns on an 80-column terminal: %q", w, seg)
					}
				}
			}
			loaded := strings.Index(out, "loaded      300 files")
			if loaded < 0 {
				t.Fatalf("no loading result line:\n%s", out)
			}
			if n := strings.Count(out[:loaded], "\n"); n > 2 {
				t.Errorf("%d lines scrolled while loading, want the status line redrawn in place:\n%s", n, out[:loaded])
			}
			if redraws := strings.Count(out[:loaded], "\r"); redraws < 2 {
				t.Errorf("the loading status was drawn %d times, want it redrawn", redraws)
			}
			if args[0] != "backfill" {
				return
			}
			n := models(t)
			built := strings.Index(out, fmt.Sprintf("built       %d of %d models", n, n))
			if built < 0 {
				t.Fatalf("no build result line:\n%s", out)
			}
			files, _ := filepath.Glob(filepath.Join(root, "models", "*", "*.sql"))
			for _, f := range files {
				if filepath.Base(filepath.Dir(f)) == "functions" {
					continue // functions, not models
				}
				m := filepath.Base(filepath.Dir(f)) + "." + strings.TrimSuffix(filepath.Base(f), ".sql")
				if !strings.Contains(out[loaded:built], m) {
					t.Errorf("the build phase never named %s:\n%q", m, out[loaded:built])
				}
			}
		})
	}
}

// underTerminal runs the binary on a fresh database under an 80×24
// pseudo-terminal with TERM and NO_COLOR as given, and returns what it
// wrote there.
func underTerminal(t *testing.T, bin, termName, noColor string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-C", root, "--database-url", pgtest.URL(t)}, args...)...)
	cmd.Env = append(cmd.Environ(), "PERCOLATE_HASH_KEY=cli test key", "TERM="+termName, "COLUMNS=", "NO_COLOR="+noColor)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&buf, tty); close(copied) }() // ends with EIO when the command exits
	err = cmd.Wait()
	<-copied
	tty.Close()
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return buf.String()
}

// TestDisplayConventions: NO_COLOR takes the colour away; TERM=dumb, a
// terminal that cannot redraw, gets the log's lines.
func TestDisplayConventions(t *testing.T) {
	bin := buildPercolate(t)
	data, _, _ := month(t)
	args := []string{"load", "--source", "transactions=" + filepath.Join(data, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")}
	if raw := underTerminal(t, bin, "xterm-256color", "1", args...); strings.Contains(raw, "\x1b[3") {
		t.Errorf("NO_COLOR=1: colour codes written:\n%q", raw)
	}
	raw := underTerminal(t, bin, "dumb", "", args...)
	if strings.Contains(raw, "\x1b[") || strings.Count(raw, "\r") != strings.Count(raw, "\n") || !strings.Contains(raw, "loading     0/300 files") {
		t.Errorf("TERM=dumb: want plain lines, no redraws, no escapes:\n%q", raw)
	}
}

// TestDisplayInALog: without a terminal, 300 files make a handful of
// lines (a phase's start and end); -v adds one per file; --log-format json
// gives one object per event; --quiet nothing.
func TestDisplayInALog(t *testing.T) {
	data, _, _ := month(t)
	sources := []string{"--source", "transactions=" + filepath.Join(data, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")}
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
	run := func(flags ...string) result {
		t.Helper()
		return mustRun(t, root, pgtest.URL(t), append(append(flags, "run"), sources...)...)
	}

	r := run()
	if n := len(lines(r.stderr)); n > 10 {
		t.Errorf("%d lines for 300 files, want a handful:\n%s", n, r.stderr)
	}
	n := models(t)
	for _, want := range []string{"loading     0/300 files", "loaded      300 files", fmt.Sprintf("building    0/%d models", n), fmt.Sprintf("built       %d of %d models", n, n), "published"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the log does not say %q:\n%s", want, r.stderr)
		}
	}

	r = run("-v")
	files := 0
	for _, l := range lines(r.stderr) {
		if strings.HasPrefix(l, "file ") {
			files++
		}
	}
	if files != 300 {
		t.Errorf("-v: %d file lines, want 300", files)
	}

	r = run("--log-format", "json")
	events := map[string]int{}
	for _, l := range lines(r.stderr) {
		var e struct{ Msg string }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		events[e.Msg]++
	}
	if events["file"] != 300 || events["model"] != n || events["start"] < 4 || events["done"] < 4 {
		t.Errorf("json events %v, want 300 files, %d models, 4 phases started and done", events, n)
	}

	if r = run("--quiet"); r.stderr != "" || !strings.Contains(r.stdout, fmt.Sprintf("models:  %d built", n)) {
		t.Errorf("--quiet: stderr %q, stdout:\n%s\nwant no progress, the summary", r.stderr, r.stdout)
	}
}

// TestFit: a status line is cut to the width, file names from the middle;
// a summary's long lines wrap under themselves.
func TestFit(t *testing.T) {
	d := &display{mode: live, width: func() int { return 40 }}
	got := d.fit("loading     12/300 files · 1,234 rows · testdata/cafe/layout_a/chesterfield_01-03-2022_09-00-00.csv")
	if w := uniseg.StringWidth(got); w > 39 || !strings.Contains(got, "…") {
		t.Errorf("fit: %q (%d columns), want at most 39, shortened", got, w)
	}
	if m := middle("chesterfield_01-03-2022_09-00-00.csv", 20); uniseg.StringWidth(m) != 20 || !strings.HasPrefix(m, "chester") || !strings.HasSuffix(m, "00.csv") {
		t.Errorf("middle: %q, want the start and the end kept, 20 columns", m)
	}
	text := "  warning: source legacy_transactions: no file matches /tmp/somewhere/quite/long/*.csv\nshort"
	got = wrap(text, 40)
	for _, l := range strings.Split(got, "\n") {
		if uniseg.StringWidth(l) > 39 {
			t.Errorf("wrap: line %q longer than 39", l)
		}
	}
	if strings.ReplaceAll(strings.Join(strings.Fields(got), " "), " ", "") != strings.ReplaceAll(strings.Join(strings.Fields(text), " "), " ", "") || !strings.Contains(got, "\n      ") {
		t.Errorf("wrap lost text or indent:\n%s", got)
	}
}

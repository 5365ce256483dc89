package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

// chromium finds headless Chromium: under CI (CI=true) a missing one is a
// failure, elsewhere the test is skipped, saying so in a line.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("headless Chromium is needed under CI: apt-get install -y chromium")
	}
	t.Skip("needs headless Chromium (apt-get install -y chromium)")
	return ""
}

// browser is one headless Chromium the subtests open pages in; problems
// collects what its pages say went wrong: console errors and warnings,
// uncaught exceptions, resources that failed to load.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]), chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	b := &browser{ctx: ctx}
	// Listen's fn sees an event before the reply of any command sent after
	// it: what a page said is here once a command after its load returns.
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = fmt.Sprintf("uncaught at %s:%d: %s", d.URL, d.LineNumber+1, d.Text)
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning {
				return
			}
			var args []string
			for _, a := range ev.Args {
				args = append(args, a.Description+string(a.Value))
			}
			msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *log.EventEntryAdded:
			if ev.Entry.Level != log.EntryLevelError && ev.Entry.Level != log.EntryLevelWarning {
				return
			}
			msg = fmt.Sprintf("%s %s %s: %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.URL, ev.Entry.Text)
		default:
			return
		}
		b.mu.Lock()
		b.problems = append(b.problems, msg)
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	for _, enable := range []func() error{
		func() error { _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); return err },
		func() error { _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); return err },
	} {
		if err := enable(); err != nil {
			t.Fatalf("start Chromium: %v", err)
		}
	}
	return b
}

// do runs actions in the browser with a deadline.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression on the page, with a deadline.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// open loads a page and returns what went wrong on it.
func (b *browser) open(t *testing.T, page string) []string {
	t.Helper()
	b.mu.Lock()
	b.problems = nil
	b.mu.Unlock()
	b.do(t, chromedp.Navigate(page))
	// Nothing loads after the load event (no fetch, no timer), and the
	// events of the load come before the reply to this.
	eval[string](t, b, `document.readyState`)
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.problems)
}

// links lists what a page's href and src attributes point at, resolved.
const links = `Array.from(document.querySelectorAll('[href],[src]')).map(e => new URL(e.getAttribute('href') || e.getAttribute('src'), document.baseURI).href)`

// checkLinks fails for a link that is not a file of the site under dir,
// and for a fragment (#x) that names no element of the page it points at
// (fragments holding "=" are the lineage page's parameters).
func checkLinks(t *testing.T, dir string, hrefs []string, ids func(string) []string) {
	t.Helper()
	for _, h := range hrefs {
		u, err := url.Parse(h)
		if err != nil || u.Scheme != "file" {
			t.Errorf("link %s: want a file of the site (nothing from the network)", h)
			continue
		}
		rel, err := filepath.Rel(dir, u.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("link %s: outside the site %s", h, dir)
			continue
		}
		if st, err := os.Stat(u.Path); err != nil || st.IsDir() {
			t.Errorf("link %s: no such file in the site", h)
			continue
		}
		if u.Fragment != "" && !strings.Contains(u.Fragment, "=") && !slices.Contains(ids(u.Path), u.Fragment) {
			t.Errorf("link %s: %s has no element #%s", h, rel, u.Fragment)
		}
	}
}

func TestDocsSite(t *testing.T) {
	exe := chromium(t)
	url := pgtest.URL(t)
	mustRun(t, root, url, "run")
	dir := t.TempDir()
	mustRun(t, root, url, "docs", "generate", "--out", dir)
	pages, err := filepath.Glob(filepath.Join(dir, "*.html"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*.html"))
	pages = append(pages, more...)
	if len(pages) < 10 {
		t.Fatalf("the site has %d pages, want the index, lineage, dashboards, runs and a page per model and source", len(pages))
	}
	b := newBrowser(t, exe)
	idsOf := map[string][]string{}
	ids := func(path string) []string {
		if got, ok := idsOf[path]; ok {
			return got
		}
		b.do(t, chromedp.Navigate("file://"+path))
		got := eval[[]string](t, b, `Array.from(document.querySelectorAll('[id]')).map(e => e.id)`)
		idsOf[path] = got
		return got
	}
	for _, p := range pages {
		name, _ := filepath.Rel(dir, p)
		t.Run(name, func(t *testing.T) {
			if problems := b.open(t, "file://"+p); len(problems) > 0 {
				t.Errorf("the page said:\n  %s", strings.Join(problems, "\n  "))
			}
			hrefs := eval[[]string](t, b, links)
			if len(hrefs) < 6 {
				t.Errorf("%d links, want the navigation's at least: %v", len(hrefs), hrefs)
			}
			checkLinks(t, dir, hrefs, ids)
		})
	}
	t.Run("lineage", func(t *testing.T) { checkLineage(t, b, dir) })
	t.Run("ledger", func(t *testing.T) { checkLedgerData(t, b, dir) })
}

// cafeModels lists the models of the project at root, read apart from the
// site.
func cafeModels(t *testing.T) []string {
	t.Helper()
	p, err := project.Open(root, project.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := p.Config.Pipeline("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Graph(pl)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range g.Models {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// checkLineage holds the lineage page to showing every model as a node of
// its graph, lighting up a model's lineage when one is clicked, panning
// when dragged, and drawing a column's lineage back to the sources.
func checkLineage(t *testing.T, b *browser, dir string) {
	page := "file://" + filepath.Join(dir, "lineage.html")
	want := cafeModels(t)
	b.open(t, page)
	got := eval[[]string](t, b, `Array.from(document.querySelectorAll('#graph .node.model')).map(n => n.dataset.name).sort()`)
	if !slices.Equal(got, want) {
		t.Errorf("the graph's model nodes:\n got %v\nwant %v", got, want)
	}

	shot := screenshot(t, b, "#graph")
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "lineage.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if share, colours := inked(t, shot); share < 0.02 || colours < 3 {
		t.Errorf("the graph's screenshot is blank: %.3f of its pixels off the background, %d colours", share, colours)
	}

	last := want[len(want)-1]
	x, y := centre(t, b, `#graph .node[data-name="`+last+`"]`)
	b.do(t, chromedp.MouseClickXY(x, y))
	picked := eval[string](t, b, `(document.querySelector('#graph .node.picked') || {dataset: {}}).dataset.name || ''`)
	lit := eval[int](t, b, `document.querySelectorAll('#graph .node.lit').length`)
	open := eval[string](t, b, `(document.getElementById('open-picked') || {}).href || ''`)
	if picked != last || lit < 2 {
		t.Errorf("clicking %s: picked %q with %d nodes lit, want it picked and what it reads lit", last, picked, lit)
	}
	checkLinks(t, dir, []string{open}, nil)

	transform := `document.querySelector('#graph .viewport').getAttribute('transform') || ''`
	before := eval[string](t, b, transform)
	x, y = centre(t, b, `#graph`)
	b.do(t, chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, x+60, y+30, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x+120, y+60, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, x+120, y+60, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	if after := eval[string](t, b, transform); before == after {
		t.Errorf("dragging the graph left it at %q", after)
	}

	col := "marts.branch_daily_sales.revenue"
	b.open(t, page+"#column="+col)
	cols := eval[[]string](t, b, `Array.from(document.querySelectorAll('#colgraph .node')).map(n => n.dataset.name)`)
	if !slices.Contains(cols, col) || !slices.ContainsFunc(cols, func(c string) bool { return strings.HasPrefix(c, "staging.") }) {
		t.Errorf("column lineage of %s: nodes %v, want it and the staging columns it comes from", col, cols)
	}
	if shown := eval[[]string](t, b, `Array.from(document.querySelectorAll('#colpanels li')).map(l => l.textContent)`); len(shown) == 0 {
		t.Errorf("column lineage of %s shows no panel, want those that read it", col)
	}
	shot = screenshot(t, b, "#colgraph")
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "column.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if share, colours := inked(t, shot); share < 0.02 || colours < 3 {
		t.Errorf("the column graph's screenshot is blank: %.3f of its pixels off the background, %d colours", share, colours)
	}
}

// screenshot takes a picture of the element sel as shown.
func screenshot(t *testing.T, b *browser, sel string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(sel))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return shot
}

// inked says what share of a PNG's pixels differ from its top-left
// pixel (the background), and how many colours it has.
func inked(t *testing.T, shot []byte) (float64, int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	r := img.Bounds()
	bg := img.At(r.Min.X, r.Min.Y)
	colours := map[[4]uint32]bool{}
	off := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := img.At(x, y)
			r1, g1, b1, a1 := c.RGBA()
			colours[[4]uint32{r1, g1, b1, a1}] = true
			if c != bg {
				off++
			}
		}
	}
	return float64(off) / float64(r.Dx()*r.Dy()), len(colours)
}

// centre is the centre of the element sel, in the page's coordinates.
func centre(t *testing.T, b *browser, sel string) (float64, float64) {
	t.Helper()
	xy := eval[[]float64](t, b, `(() => { const r = document.querySelector('`+sel+`').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	return xy[0], xy[1]
}

// checkLedgerData holds the pages to showing what the run put in the
// ledger: the runs, the checks' results, the sources' files.
func checkLedgerData(t *testing.T, b *browser, dir string) {
	text := func(page, sel string) string {
		t.Helper()
		b.open(t, "file://"+filepath.Join(dir, page))
		return eval[string](t, b, `(document.querySelector('`+sel+`') || {innerText: ''}).innerText`)
	}
	if got := text("runs.html", "#runs"); !strings.Contains(got, "ok") {
		t.Errorf("runs page: want the run, ok; got %q", got)
	}
	got := text("models/core.orders.html", "#checks")
	if got == "" || strings.Contains(got, "never run") || strings.Contains(got, "no database data") || !strings.Contains(got, "passed") {
		t.Errorf("core.orders' checks: want their last results, got %q", got)
	}
	got = text("sources/transactions.html", "#files")
	if fields := strings.Fields(got); !slices.ContainsFunc(fields, func(f string) bool { return f != "0" && strings.Trim(f, "0123456789") == "" }) {
		t.Errorf("transactions' files: want counts of the files loaded, got %q", got)
	}
}

// TestDocsWithoutDatabase holds the site to being made from the files
// alone, every model in it, its pages saying why they have no database
// data.
func TestDocsWithoutDatabase(t *testing.T) {
	t.Setenv(EnvDatabaseURL, "")
	t.Setenv(EnvHashKey, "cli test key")
	fresh := t.TempDir()
	if code := Run(context.Background(), []string{"init", fresh}, strings.NewReader(""), new(bytes.Buffer), new(bytes.Buffer)); code != 0 {
		t.Fatalf("init: exit %d", code)
	}
	cases := []struct {
		name, dir string
		args      []string
		models    []string
		reason    string
	}{
		{"offline", root, []string{"--database-url", "postgres://nobody@127.0.0.1:1/none", "docs", "generate", "--offline"}, cafeModels(t), "generated with --offline"},
		{"no database yet", fresh, []string{"docs", "generate"}, []string{"marts.station_days"}, "the project has no database yet"},
		{"database unreachable", fresh, []string{"--database-url", "postgres://nobody@127.0.0.1:1/none", "docs", "generate"}, []string{"marts.station_days"}, "the database could not be read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := append([]string{"-C", c.dir}, append(c.args, "--out", out)...)
			if code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
			}
			read := func(name string) string {
				t.Helper()
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			lineage := read("lineage.html")
			for _, m := range c.models {
				if page := read("models/" + m + ".html"); !strings.Contains(page, "no database data") {
					t.Errorf("%s's page does not say its checks have no database data", m)
				}
				if !strings.Contains(lineage, `data-name="`+m+`"`) {
					t.Errorf("the lineage graph has no node %s", m)
				}
			}
			if runs := read("runs.html"); !strings.Contains(runs, "No database data here: "+c.reason) {
				t.Errorf("runs page: want it to say %q", c.reason)
			}
			if warned := strings.Contains(stderr.String(), "warning: docs without the database"); warned != strings.Contains(c.reason, "could not") {
				t.Errorf("stderr: %q; want a warning only when the database could not be read", stderr.String())
			}
		})
	}
}

// TestDocsServe holds docs serve to serving the site on 127.0.0.1 until
// interrupted, then exiting 0.
func TestDocsServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	exit := make(chan int, 1)
	go func() {
		code := Run(ctx, []string{"-C", root, "docs", "serve", "--offline", "--port", "0"}, strings.NewReader(""), pw, &stderr)
		pw.Close()
		exit <- code
	}()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, pr)
	}()
	var addr string
	select {
	case line := <-lines:
		m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("serve said %q, want the address on 127.0.0.1; stderr: %s", line, stderr.String())
		}
		addr = m[1]
	case <-time.After(2 * time.Minute):
		t.Fatal("serve said nothing in 2 minutes")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, c := range []struct {
		path, has string
		status    int
	}{
		{"/", `href="lineage.html"`, 200},
		{"/lineage.html", `id="graph"`, 200},
		{"/models/core.orders.html", "core.orders", 200},
		{"/assets/site.js", "panZoom", 200},
		{"/no-such-page.html", "", 404},
	} {
		resp, err := client.Get("http://" + addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.has) {
			t.Errorf("GET %s: %d, want %d with %q", c.path, resp.StatusCode, c.status, c.has)
		}
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("serve stopped with exit %d, want 0; stderr: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute of its context's end")
	}
}

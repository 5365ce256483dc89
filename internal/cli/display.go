package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/project"
)

// How a command shows its progress on stderr.
type displayMode int

const (
	live  displayMode = iota // a terminal: one status line per phase, redrawn in place
	plain                    // a log: a line per phase, a progress line now and then
	jsonl                    // a log for machines: one JSON object per event
	quiet                    // only errors (the summary goes to stdout)
)

// logEvery is how often a plain log says how a long phase is going.
const logEvery = 10 * time.Second

// redrawEvery is how often a live status line is redrawn while nothing
// happens (its clock goes on, and a resized terminal is laid out again).
const redrawEvery = 250 * time.Millisecond

// display shows what a run or a backfill is doing, phase by phase:
// loading (files, rows, rows/s, rejects, time left), building (model n of
// N), checks, publish. On a terminal each phase is a status line redrawn in
// place that never exceeds the terminal's width, and leaves its one-line
// result when it ends; in a log, a phase is a line when it starts and one
// when it ends, with a progress line at most every logEvery. Warnings
// (refused files, rejects) always print, naming the file.
type display struct {
	out     io.Writer
	mode    displayMode
	verbose bool // plain: a line per file
	color   bool
	width   func() int
	log     *slog.Logger // jsonl

	mu      sync.Mutex
	ph      *phase
	shown   bool // live: a status line is on screen
	drawn   time.Time
	logged  time.Time
	stop    chan struct{}
	stopped sync.WaitGroup

	// cut says the phase under way was cut short by an error.
	cut bool

	// Totals across phases: a backfill loads chunk after chunk.
	files, total, loaded, skipped, refused int
	rows, rejects                          int64
	loadStart                              time.Time
}

// phase is the phase under way.
type phase struct {
	name  string // loading, building, checking, publishing
	start time.Time
	// building
	models, built int
	running       []string
	lastModel     string
	lastRows      int64
	// loading: the file last done
	last string
}

// displayFlags are the global flags that choose a display.
type displayFlags struct {
	verbose, quiet bool
	logFormat      string
}

// newDisplay picks the display for stderr: live on a terminal (unless
// TERM=dumb), else a plain or JSON log; --quiet shows nothing but errors.
// NO_COLOR turns colour off; COLUMNS overrides the terminal's width.
func (a *app) newDisplay() *display {
	d := &display{out: a.stderr, mode: plain, verbose: a.disp.verbose, width: func() int { return 80 }}
	f, isFile := a.stderr.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
	switch {
	case a.disp.quiet:
		d.mode = quiet
		return d
	case a.disp.logFormat == "json":
		d.mode = jsonl
		d.log = slog.New(slog.NewJSONHandler(a.stderr, nil))
		return d
	case tty:
		d.mode = live
		d.color = os.Getenv("NO_COLOR") == ""
		d.width = func() int { return termWidth(f) }
	}
	d.stop = make(chan struct{})
	d.stopped.Add(1)
	go d.tick()
	return d
}

// attach points a run's callbacks at the display.
func (d *display) attach(opt *project.RunOptions) {
	opt.OnFiles = d.loading
	opt.OnFile = d.file
	opt.OnBuild = d.build
}

// tick redraws the status line now and then: its clock moves, and a
// resized terminal gets a line of its new width; a log gets its progress
// line during a long model build too.
func (d *display) tick() {
	defer d.stopped.Done()
	t := time.NewTicker(redrawEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.mu.Lock()
			if d.ph != nil {
				d.draw(true)
			}
			d.mu.Unlock()
		}
	}
}

// close ends the phase under way; call it before printing the summary,
// with the command's error: a phase cut short by one says it stopped, not
// what it would have done (a publish that did not commit published nothing).
func (d *display) close(err error) {
	if d.stop != nil {
		close(d.stop)
		d.stopped.Wait()
		d.stop = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = err != nil
	d.end()
}

// loading starts the loading phase with the number of files to look at.
func (d *display) loading(total int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total = total
	d.begin("loading")
	d.event("loading", "files", total)
}

// file counts a file that finished loading.
func (d *display) file(r project.FileResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ph == nil || d.ph.name != "loading" {
		d.begin("loading") // the next chunk of a backfill
	}
	d.files++
	d.rows += r.Loaded
	d.rejects += r.Rejected
	switch r.Status {
	case project.Loaded, project.Replaced:
		d.loaded++
	case project.Skipped:
		d.skipped++
	case project.Refused, project.Failed:
		d.refused++
	}
	d.ph.last = filepath.Base(r.Path)
	switch {
	case d.mode == jsonl:
		kv := []any{"source", r.Source, "path", r.Path, "status", string(r.Status), "rows", r.Loaded, "rejected", r.Rejected}
		if r.Err != nil {
			kv = append(kv, "error", r.Err.Error())
		}
		d.log.Info("file", kv...)
		return
	case r.Status == project.Refused || r.Status == project.Failed:
		d.println(d.paint("31", string(r.Status)+":") + " " + errText(r.Err))
	case r.Rejected > 0 && d.mode != quiet:
		first := ""
		if len(r.Rejects) > 0 {
			first = " (first: " + r.Rejects[0].String() + ")"
		}
		d.println(d.paint("33", "rejects:") + fmt.Sprintf(" %s: %d rows%s", r.Path, r.Rejected, first))
	case d.verbose && d.mode == plain:
		d.println(fmt.Sprintf("file %s: %s, %d rows, %d rejected", r.Path, r.Status, r.Loaded, r.Rejected))
	}
	d.draw(false)
}

// build follows the build's events.
func (d *display) build(e build.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch e.Kind {
	case build.ModelStarted, build.ModelBuilt:
		if d.ph == nil || d.ph.name != "building" {
			d.begin("building", func(p *phase) { p.models = e.Models })
			d.event("building", "models", e.Models)
		}
		p := d.ph
		if e.Kind == build.ModelStarted {
			p.running = append(p.running, e.Model)
		} else {
			p.built++
			p.lastModel, p.lastRows = e.Model, e.Rows
			for i, m := range p.running {
				if m == e.Model {
					p.running = append(p.running[:i], p.running[i+1:]...)
					break
				}
			}
			if d.mode == jsonl {
				d.log.Info("model", "model", e.Model, "rows", e.Rows, "seconds", e.Took.Seconds())
			} else if d.verbose && d.mode == plain {
				d.println(fmt.Sprintf("model %s: %s in %s", e.Model, rowsText(e.Rows), e.Took.Round(time.Millisecond)))
			}
		}
	case build.Checking:
		d.begin("checking")
		d.event("checking")
	case build.Publishing:
		d.begin("publishing")
		d.event("publishing")
	case build.Published:
		// Committed: what follows (delivery checks, a refused file's
		// error) cannot make it unpublished.
		if d.ph != nil && d.ph.name == "publishing" {
			d.end()
		}
		return
	case build.Comparing:
		d.begin("comparing")
		d.event("comparing")
	}
	d.draw(true) // every model is named on screen, however quick
}

// begin ends the phase under way and starts the named one, set up by
// the functions given.
func (d *display) begin(name string, set ...func(*phase)) {
	d.end()
	d.ph = &phase{name: name, start: time.Now()}
	for _, f := range set {
		f(d.ph)
	}
	if name == "loading" && d.loadStart.IsZero() {
		d.loadStart = d.ph.start
	}
	if d.mode == plain {
		d.println(d.status())
		d.logged = time.Now()
	}
}

// end leaves the phase's one-line result.
func (d *display) end() {
	p := d.ph
	if p == nil {
		return
	}
	if d.mode == live {
		// Its last state first: events that come in a burst (a group of
		// files committed together) within the redraw interval are not
		// drawn, and the bar would end short of where the phase did.
		d.draw(true)
	}
	d.ph = nil
	took := time.Since(p.start).Round(time.Millisecond)
	var line string
	switch p.name {
	case "loading":
		line = fmt.Sprintf("loaded      %d files in %s · %s rows · %d rejects · %d new", d.files, took, thousands(d.rows), d.rejects, d.loaded)
		if d.skipped > 0 {
			line += fmt.Sprintf(", %d skipped", d.skipped)
		}
		if d.refused > 0 {
			line += fmt.Sprintf(", %d refused", d.refused)
		}
	case "building":
		line = fmt.Sprintf("built       %d of %d models · %s", p.built, p.models, took)
	case "checking":
		line = fmt.Sprintf("checked     %s", took)
	case "publishing":
		line = fmt.Sprintf("published   %s", took)
	case "comparing":
		line = fmt.Sprintf("compared    %s", took)
	}
	if d.cut && p.name != "loading" {
		// Loading counts only what committed; the others did not finish.
		line = fmt.Sprintf("stopped     %s after %s: nothing of it committed", p.name, took)
		if p.name == "building" {
			line = fmt.Sprintf("stopped     building after %d of %d models, %s: nothing published", p.built, p.models, took)
		}
	}
	switch d.mode {
	case jsonl:
		d.log.Info("done", "phase", p.name, "seconds", took.Seconds(), "stopped", d.cut)
	case live, plain:
		d.println(d.fit(line))
	}
}

// status is the phase's line: figures first, names last.
func (d *display) status() string {
	p := d.ph
	el := time.Since(p.start)
	switch p.name {
	case "loading":
		rate := float64(d.rows) / max(time.Since(d.loadStart).Seconds(), 1e-3)
		s := fmt.Sprintf("loading     %s%d/%d files · %s rows · %s rows/s · %d rejects", d.bar(d.files, d.total), d.files, d.total,
			thousands(d.rows), thousands(int64(rate)), d.rejects)
		if d.files > 0 && d.total > d.files {
			left := time.Duration(float64(time.Since(d.loadStart)) / float64(d.files) * float64(d.total-d.files))
			s += " · " + left.Round(time.Second).String() + " left"
		}
		if p.last != "" {
			s += " · " + p.last
		}
		return s
	case "building":
		s := fmt.Sprintf("building    %s%d/%d models · %s", d.bar(p.built, p.models), p.built, p.models, el.Round(100*time.Millisecond))
		switch n := len(p.running); {
		case n > 1:
			s += fmt.Sprintf(" · %s +%d", p.running[n-1], n-1)
		case n == 1:
			s += " · " + p.running[0]
		case p.lastModel != "":
			s += " · " + rowsText(p.lastRows) + " · " + p.lastModel
		}
		return s
	}
	return fmt.Sprintf("%-11s %s", p.name, el.Round(100*time.Millisecond))
}

// draw shows the status line: in place on a terminal (at most every
// 50 ms unless forced by the clock), every logEvery in a log.
func (d *display) draw(clock bool) {
	if d.ph == nil {
		return
	}
	switch d.mode {
	case live:
		if !clock && time.Since(d.drawn) < 50*time.Millisecond {
			return
		}
		fmt.Fprint(d.out, "\r\x1b[2K"+d.fit(d.status()))
		d.shown, d.drawn = true, time.Now()
	case plain:
		if time.Since(d.logged) >= logEvery {
			d.println(d.status())
			d.logged = time.Now()
		}
	}
}

// println prints a line that stays, above the status line.
func (d *display) println(s string) { d.above(d.out, s) }

// above prints a line that stays to w (stdout, say), above the status
// line, which is redrawn after it.
func (d *display) above(w io.Writer, s string) {
	if d.mode == live && d.shown {
		fmt.Fprint(d.out, "\r\x1b[2K")
		d.shown = false
	}
	fmt.Fprintln(w, s)
	if d.mode == live && d.ph != nil {
		d.drawn = time.Time{}
	}
}

// done ends the phase under way with its result, then prints a line that
// stays to w: what a step as a whole did (a backfill's chunk).
func (d *display) done(w io.Writer, s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.end()
	d.above(w, d.fit(s))
}

// published logs, for machines, that a backfill's chunk of days was
// published: its publish committed.
func (d *display) published(from, to time.Time) {
	if d.mode == jsonl {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.log.Info("published", "from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly))
	}
}

// event logs a phase starting, for machines.
func (d *display) event(phase string, kv ...any) {
	if d.mode == jsonl {
		d.log.Info("start", append([]any{"phase", phase}, kv...)...)
	}
}

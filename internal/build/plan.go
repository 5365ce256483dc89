package build

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/seed"
	wh "github.com/percolate/percolate/internal/warehouse" // this package's tests have a helper named warehouse
)

// Options say which models a build considers and how.
type Options struct {
	Select, Exclude []string
	// FullRefresh rebuilds every selected model whatever its state.
	FullRefresh bool
	// Sources maps each staging table to its source's name, to read the
	// state of its data from the file manifest.
	Sources map[string]string
	// Pending names sources with files not loaded yet (for plan): their
	// models count as having new data.
	Pending map[string]bool
	// From limits the days an incremental model rebuilds after a version
	// change to those on or after it (zero: all days, as a full build).
	From time.Time
	// Workers is how many models are built whole at once, each on its own
	// connection; 0 means the engine's default (Engine.BuildsAtOnce: one
	// per core, one at a time on Citus).
	Workers int
	// OnEvent, when set, is told what the build is doing (see Event).
	OnEvent func(Event)
	// PublishWait bounds how long the publish waits for readers holding a
	// relation it replaces (0: a minute); past it the build fails and
	// nothing is published.
	PublishWait time.Duration
	// Held, when set, is asked just before the publish commits whether
	// the run still holds the run lock: a run whose lock's connection
	// ended may be interleaving with another, and publishes nothing.
	Held func(context.Context) error
	// Engine is the warehouse's engine, detected by the caller; nil: the
	// build detects it, once for the call.
	Engine *wh.Engine
	// Seeds are the project's seeds: a diff loads those that changed
	// beside the live ones and compares them too.
	Seeds []*seed.Seed
	// Functions are the functions every pipeline of the project declares
	// (each models/functions): one the ledger says Percolate created and
	// none declares is dropped by the run's publish, and a model still
	// calling it fails the run before anything is built. Nil: none is
	// dropped.
	Functions []string
}

// engine is the warehouse's engine: the one the caller detected, else
// detected here, once for the call.
func (o Options) engine(ctx context.Context, q wh.Querier) (*wh.Engine, error) {
	if o.Engine != nil {
		return o.Engine, nil
	}
	return wh.Detect(ctx, q)
}

// Step is what a build does with one selected model, and why.
type Step struct {
	Model  *dag.Model `json:"-"`
	Name   string     `json:"model"`
	Build  bool       `json:"build"`
	Reason string     `json:"reason"`
	// Full builds the whole relation beside the live one and swaps it in;
	// otherwise an incremental model's Days are replaced in place.
	Full bool     `json:"full"`
	Days []string `json:"days,omitempty"`
	// Edited says the model's own SQL or config changed since it was last
	// built (or it is new): what it returns may change, not only its data.
	Edited bool `json:"edited"`
	// EditedColumns, for an edited model built before, are the columns
	// whose SQL changed, were added or were removed (see
	// dag.Model.ColumnVersions); nil when not known, e.g. for a new model.
	EditedColumns []string `json:"edited_columns,omitempty"`
	// Distribution is how the model's table is spread on Citus ("by
	// branch", "reference"), as it declares; nothing on plain PostgreSQL.
	Distribution string `json:"distribution,omitempty"`
	// Checks names the model's checks that its published relation was not
	// checked with (added, edited, severity changed): they run on the whole
	// relation, also when the model is not built.
	Checks []string `json:"checks,omitempty"`

	changed map[*dag.Check]bool // the checks Checks names

	inputs  string
	sources []string
	tables  []string // the source tables it reads, directly or not
	// took is how long the model's last build took, 0 when unknown.
	took time.Duration
}

// Plan is the steps of a build, in dependency order.
type Plan struct {
	Steps []*Step
	// Watermark is the newest load when the plan was made: builds record it.
	Watermark int64
	// Engine is the warehouse's engine: on Citus the build makes
	// distributed tables as models declare them (see citus.go).
	Engine *wh.Engine
	graph  *dag.Graph
	// every is the whole plan's steps, where Steps is a part of them (an
	// early build's one step); nil when Steps is the whole.
	every []*Step
}

// step is the plan's step for the model name, nil when it has none.
func (p *Plan) step(name string) *Step {
	steps := p.Steps
	if p.every != nil {
		steps = p.every
	}
	if i := slices.IndexFunc(steps, func(s *Step) bool { return s.Name == name }); i >= 0 {
		return steps[i]
	}
	return nil
}

// Builds counts the steps that build.
func (p *Plan) Builds() int {
	n := 0
	for _, s := range p.Steps {
		if s.Build {
			n++
		}
	}
	return n
}

// Rechecks counts the steps that build nothing but run checks their
// model's published relation was not checked with.
func (p *Plan) Rechecks() int {
	n := 0
	for _, s := range p.Steps {
		if !s.Build && len(s.changed) > 0 {
			n++
		}
	}
	return n
}

// Modified reports models whose version differs from the one last built
// (or that were never built): the state:modified selector.
func Modified(last map[string]ledger.LastBuild) func(*dag.Model) bool {
	return func(m *dag.Model) bool {
		b, ok := last[m.Name]
		return !ok || b.Version != m.Version
	}
}

// NewPlan decides, for each selected model, whether it must be built.
func NewPlan(ctx context.Context, q ledger.Querier, g *dag.Graph, opt Options) (*Plan, error) {
	var book ledger.Store
	state, err := book.LastBuilds(ctx, q)
	if err != nil {
		return nil, err
	}
	engine, err := opt.engine(ctx, q)
	if err != nil {
		return nil, err
	}
	selected, err := g.Select(opt.Select, opt.Exclude, Modified(state))
	if err != nil {
		return nil, err
	}
	checked, err := book.CheckVersions(ctx, q)
	if err != nil {
		return nil, err
	}
	bySource, err := book.SourceStates(ctx, q)
	if err != nil {
		return nil, err
	}
	data := map[string]string{}
	for t, src := range opt.Sources {
		data[t] = bySource[src]
	}
	p := &Plan{graph: g, Engine: engine}
	if p.Watermark, err = book.Watermark(ctx, q); err != nil {
		return nil, err
	}
	pl := &planner{q: q, g: g, opt: opt, state: state, checked: checked, data: data,
		building: map[string]bool{}, whole: map[string]bool{}}
	for _, m := range selected {
		s, err := pl.step(ctx, m)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

// planner is the state of one NewPlan: what the ledger says, and what the
// steps planned so far decided, which the steps after them read.
type planner struct {
	q       ledger.Querier
	g       *dag.Graph
	opt     Options
	state   map[string]ledger.LastBuild // each model's last build
	checked map[string][]string         // the check versions each model's relation was checked with
	data    map[string]string           // each source table's state of data

	building map[string]bool // the models planned so far that are built
	whole    map[string]bool // those built whole, beside the live relation
	fileDays []time.Time     // the days any file has rows for, asked once
}

// step plans the build of m.
func (pl *planner) step(ctx context.Context, m *dag.Model) (*Step, error) {
	opt := pl.opt
	s := &Step{Model: m, Name: m.Name, Build: true, Full: true, Distribution: m.Config.Distribution()}
	tables := upstreamSources(pl.g, m)
	s.tables = tables
	s.inputs = inputs(tables, pl.data)
	var pendingSources []string
	for _, t := range tables {
		src := opt.Sources[t]
		if src != "" && !slices.Contains(s.sources, src) {
			s.sources = append(s.sources, src)
		}
		if opt.Pending[src] && !slices.Contains(pendingSources, src) {
			pendingSources = append(pendingSources, src)
		}
	}
	last, built := pl.state[m.Name]
	if built {
		s.took = last.Finished.Sub(last.Started)
	}
	pl.reason(s, last, built, pendingSources)
	if m.Config.Materialized == dag.Incremental && (s.Build || built) {
		// Even an unchanged model is checked for gaps: days with data
		// and no interval.
		if !s.Build {
			s.Build, s.Reason = true, "gap: days with data but no interval"
		}
		if err := pl.days(ctx, s, last, built); err != nil {
			return nil, err
		}
		if !s.Build && len(pendingSources) > 0 {
			s.Build, s.Reason = true, "new files for "+strings.Join(pendingSources, ", ")+" (their days are known once loaded)"
		}
	}
	planSnapshot(s)
	if built && last.Exists && !opt.FullRefresh {
		planChecks(s, pl.checked[m.Name])
	}
	pl.building[m.Name] = s.Build
	pl.whole[m.Name] = s.Build && s.Full
	return s, nil
}

// reason decides whether s is built, and says why: last is its model's
// last build, if built; pendingSources are the sources it reads with
// files still to load.
func (pl *planner) reason(s *Step, last ledger.LastBuild, built bool, pendingSources []string) {
	m := s.Model
	var rebuiltParents, wholeParents []string
	for _, par := range m.Parents {
		if pl.building[par] {
			rebuiltParents = append(rebuiltParents, par)
		}
		if pl.whole[par] {
			wholeParents = append(wholeParents, par)
		}
	}
	var changed []string // the inputs with new data since the last build
	if last.Inputs != s.inputs {
		changed = changedTables(last.Inputs, s.inputs)
	}
	switch {
	case pl.opt.FullRefresh:
		s.Reason = "full refresh"
	case !built:
		s.Reason, s.Edited = "new model", true
	case !last.Exists:
		s.Reason = "relation missing"
	case last.OwnVersion != m.OwnVersion:
		s.Reason, s.Edited = fmt.Sprintf("changed (version %s → %s)", last.Version, m.Version), true
		s.EditedColumns = editedColumns(last.Columns, m.ColumnVersions())
	case last.Version != m.Version:
		s.Reason = "upstream changed: " + strings.Join(changedParents(pl.g, m, pl.state), ", ")
	case m.Config.Materialized == dag.View && len(wholeParents) > 0:
		// The parent is built beside the live one: models below the
		// view must read it through a view of the new parent.
		s.Reason = "parent rebuilt: " + strings.Join(wholeParents, ", ")
	case m.Config.Materialized == dag.View:
		// A view shows its inputs' current data: new data changes nothing.
		s.Build, s.Reason = false, "unchanged"
	case len(pendingSources) > 0:
		s.Reason = "new files for " + strings.Join(pendingSources, ", ")
	case len(changed) > 0:
		s.Reason = "new data in " + strings.Join(changed, ", ")
	case len(rebuiltParents) > 0:
		s.Reason = "parent rebuilt: " + strings.Join(rebuiltParents, ", ")
	default:
		s.Build, s.Reason = false, "unchanged"
	}
}

// planChecks notes the checks of s's model whose fingerprint is not among
// those its published relation was checked with: a check is metadata,
// apart from the model's version, so a new or edited one rebuilds nothing
// but runs on the whole relation.
func planChecks(s *Step, done []string) {
	for _, c := range s.Model.Config.Checks {
		if slices.Contains(done, checkVersion(c)) {
			continue
		}
		if s.changed == nil {
			s.changed = map[*dag.Check]bool{}
		}
		s.changed[c] = true
		s.Checks = append(s.Checks, c.Name)
	}
	if !s.Build && len(s.Checks) > 0 {
		s.Reason += fmt.Sprintf("; %d new or edited check(s) run on the published relation", len(s.Checks))
	}
}

// editedColumns lists the columns whose versions differ between was and
// is, sorted; nil when was is unknown.
func editedColumns(was, is map[string]string) []string {
	if was == nil {
		return nil
	}
	out := []string{}
	for c, v := range is {
		if was[c] != v {
			out = append(out, c)
		}
	}
	for c := range was {
		if _, ok := is[c]; !ok {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// upstreamSources lists every source table m reads, directly or through
// its ancestors, sorted.
func upstreamSources(g *dag.Graph, m *dag.Model) []string {
	out := slices.Clone(m.Sources)
	for _, a := range g.Ancestors(m) {
		out = append(out, g.Model(a).Sources...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func inputs(tables []string, data map[string]string) string {
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = t + "=" + data[t]
	}
	return strings.Join(parts, ";")
}

// changedTables names the tables whose state of data differs between
// two inputs (see ledger.SameState), or "its sources" when the tables
// themselves differ; none when the inputs tell the same data.
func changedTables(old, cur string) []string {
	was := map[string]string{}
	for _, p := range strings.Split(old, ";") {
		k, v, _ := strings.Cut(p, "=")
		was[k] = v
	}
	var out []string
	parts := strings.Split(cur, ";")
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if w, ok := was[k]; !ok || !ledger.SameState(w, v) {
			out = append(out, k)
		}
	}
	if len(out) == 0 && len(was) != len(parts) {
		out = []string{"its sources"}
	}
	return out
}

// changedParents names the ancestors of m whose own version differs from
// the one last built.
func changedParents(g *dag.Graph, m *dag.Model, state map[string]ledger.LastBuild) []string {
	var out []string
	for _, a := range g.Ancestors(m) {
		if state[a].OwnVersion != g.Model(a).OwnVersion {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = usedBy(g, m)
	}
	return out
}

// days decides whether an incremental model's build is a full one or
// which days it replaces: those whose files arrived (or were replaced)
// since its last build, and any day with data it has no interval for at
// its current version (a gap). last is its model's last build, if built.
func (pl *planner) days(ctx context.Context, s *Step, last ledger.LastBuild, built bool) error {
	opt, q := pl.opt, pl.q
	m := s.Model
	versionChanged := built && last.Version != m.Version
	if opt.FullRefresh || !built || !last.Exists || (versionChanged && opt.From.IsZero()) {
		return nil
	}
	var book ledger.Store
	if pl.fileDays == nil {
		days, err := book.FileDays(ctx, q)
		if err != nil {
			return err
		}
		pl.fileDays = days
	}
	stale := ledger.Stale{Model: m.Name, Version: m.Version, Sources: s.sources, Watermark: last.Watermark, Versioned: versionChanged, Days: pl.fileDays}
	if versionChanged {
		stale.From = opt.From
	}
	days, err := book.StaleDays(ctx, q, stale)
	if err != nil {
		return err
	}
	s.Full = false
	for _, d := range days {
		s.Days = append(s.Days, d.Format(time.DateOnly))
	}
	if len(days) == 0 {
		s.Build, s.Reason = false, "unchanged"
		return nil
	}
	s.Reason = fmt.Sprintf("%d day(s) %s: %s", len(days), span(s.Days), s.Reason)
	return nil
}

func span(days []string) string {
	if len(days) == 1 {
		return days[0]
	}
	return days[0] + " … " + days[len(days)-1]
}

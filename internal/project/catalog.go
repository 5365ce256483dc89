package project

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/docsite"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/lineage"
	"github.com/percolate/percolate/internal/staging"
	"github.com/percolate/percolate/internal/unit"
)

// catalogRuns and catalogRejects bound what the catalog reads of the
// ledger: the latest runs, and a source's latest rejects.
const (
	catalogRuns    = 50
	catalogRejects = 20
)

// HasDatabase reports whether the project has a database to read without
// making one: a URL it was opened with, or an embedded cluster already
// created under .percolate/.
func (p *Folder) HasDatabase() bool {
	if p.External() {
		return true
	}
	c, err := p.Cluster()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(c.Dir, "data", "PG_VERSION"))
	return err == nil
}

// Catalog gathers what the docs site shows of a pipeline from the
// project's files: its models, their columns, lineage, checks and unit
// tests; its sources and their contracts; and the columns the panels of
// dashboards (as declared: titles and SQL) read, which it fills in.
// AddLedger adds what the database holds.
func (p *Folder) Catalog(pipeline string, dashboards []*docsite.Dashboard) (*docsite.Catalog, error) {
	pl, err := p.Config.Pipeline(pipeline)
	if err != nil {
		return nil, err
	}
	g, err := p.Graph(pl)
	if err != nil {
		return nil, err
	}
	have, err := p.StagingFromMigrations()
	if err != nil {
		return nil, err
	}
	l, err := lineage.Build(g, tableColumns(have))
	if err != nil {
		return nil, err
	}
	c := &docsite.Catalog{Title: filepath.Base(p.Dir), Pipeline: pl.Name, Description: pl.Description, Generated: time.Now()}
	c.Dashboards = dashboards
	panels := followPanels(dashboards, l)
	cases, err := unit.Load(os.DirFS(p.Dir), g)
	if err != nil {
		return nil, err
	}
	touched := panelsByColumn(l, panels)
	for _, m := range g.Models {
		c.Models = append(c.Models, catalogModel(g, l, m, touched, cases))
	}
	slices.SortFunc(c.Models, func(a, b *docsite.Model) int { return strings.Compare(a.Name, b.Name) })
	if c.Sources, err = p.catalogSources(pl, have); err != nil {
		return nil, err
	}
	return c, nil
}

// tableColumns says the columns of the tables the migrations make.
func tableColumns(have *staging.Schema) lineage.Columns {
	return func(rel string) []string {
		t := have.Tables[rel]
		if t == nil {
			return nil
		}
		names := make([]string, len(t.Columns))
		for i, col := range t.Columns {
			names[i] = col.Name
		}
		return names
	}
}

// catalogModel is what the site shows of model m.
func catalogModel(g *dag.Graph, l *lineage.Graph, m *dag.Model, touched map[string][]string, cases []*unit.Case) *docsite.Model {
	dm := &docsite.Model{
		Name: m.Name, Path: m.Path, Description: m.Config.Description, Materialized: m.Config.Materialized,
		Version: m.Version, Tags: m.Config.Tags, Key: m.Config.Key, SQL: m.SQL,
		Upstream: m.Refs, Downstream: g.Children(m),
	}
	docs := map[string]string{}
	for _, d := range m.Config.Columns {
		docs[d.Name] = d.Text
	}
	for _, col := range l.ModelColumns(m.Name) {
		_, name := lineage.Split(col)
		dc := &docsite.Column{Name: name, Description: docs[name], From: l.Direct(col), Panels: touched[col]}
		dm.Columns = append(dm.Columns, dc)
	}
	for _, ch := range m.Config.Checks {
		dm.Checks = append(dm.Checks, &docsite.Check{Name: ch.Name, Severity: ch.Severity})
	}
	for _, tc := range cases {
		if tc.Model != m {
			continue
		}
		t := &docsite.TestCase{Name: tc.Name, Path: tc.Path, Line: tc.Line}
		for _, r := range tc.Given {
			t.Given = append(t.Given, r.Rel)
		}
		if tc.Expect != nil {
			t.Rows = len(tc.Expect.Rows)
		}
		dm.Tests = append(dm.Tests, t)
	}
	return dm
}

// panelsByColumn names, for each column, the panels that read it or a
// column computed from it (as lineage's Touched says of one column): from
// the panels back, so that a thousand models' columns cost a walk per
// panel, not one per column.
func panelsByColumn(l *lineage.Graph, panels []*lineage.Panel) map[string][]string {
	out := map[string][]string{}
	for _, pn := range panels {
		seen := map[string]bool{}
		for _, c := range slices.Concat(pn.Reads, pn.Missing) {
			for _, u := range append(l.Upstream(c), c) {
				if !seen[u] {
					seen[u] = true
					out[u] = append(out[u], pn.String())
				}
			}
		}
	}
	return out
}

// followPanels fills in the columns each panel of dashboards reads and
// returns the panels as lineage follows them.
func followPanels(dashboards []*docsite.Dashboard, l *lineage.Graph) []*lineage.Panel {
	var all []*lineage.Panel
	for _, d := range dashboards {
		for _, pn := range d.Panels {
			lp := l.DeclaredPanel(d.Title, pn.Title, d.Path, pn.SQL)
			pn.Reads, pn.Missing, pn.Err = lp.Reads, lp.Missing, lp.Err
			all = append(all, lp)
		}
	}
	return all
}

// catalogSources is what the site shows of pl's sources: their contract
// as declared and the staging tables it makes.
func (p *Folder) catalogSources(pl *config.Pipeline, have *staging.Schema) ([]*docsite.Source, error) {
	declared, err := sourceDeclarations(p.Config.Path, pl.Name)
	if err != nil {
		return nil, err
	}
	tables := map[string][]string{}
	for t, s := range SourceOf(pl) {
		tables[s] = append(tables[s], t)
	}
	var out []*docsite.Source
	for _, name := range slices.Sorted(maps.Keys(pl.Sources)) {
		src := pl.Sources[name]
		ds := &docsite.Source{Name: name, Description: src.Description, Path: src.Path, Table: src.Table,
			Tables: mainFirst(src.Table, tables[name]), Contract: declared[name], Expect: expectations(src)}
		for _, t := range ds.Tables {
			if have.Tables[t] == nil {
				continue
			}
			for _, col := range have.Tables[t].Columns {
				note := ""
				if t == src.Table { // the declared columns are the row's; the other tables are sums
					note = columnNote(src, col.Name)
				}
				ds.Columns = append(ds.Columns, &docsite.SourceColumn{Table: t, Name: col.Name, Type: col.Decl, Note: note})
			}
		}
		for _, col := range src.Columns {
			if col.Personal == "drop" {
				ds.Columns = append(ds.Columns, &docsite.SourceColumn{Table: "-", Name: col.Name, Type: "-", Note: "personal data: dropped as it is read, never stored"})
			}
		}
		out = append(out, ds)
	}
	return out, nil
}

// columnNote says what src's contract does with its staging column name.
func columnNote(src *config.Source, name string) string {
	var notes []string
	if src.Key.Column == name {
		notes = append(notes, "row key: a keyed hash of "+strings.Join(src.Key.From, ", "))
	}
	for _, col := range src.Columns {
		if col.Name != name {
			continue
		}
		if col.Personal != "" {
			notes = append(notes, "personal data: "+col.Personal)
		}
		if len(col.Values) > 0 {
			notes = append(notes, "one of "+strings.Join(col.Values, ", "))
		}
		if col.Optional {
			notes = append(notes, "optional")
		} else {
			notes = append(notes, "required")
		}
		if col.Pattern != "" {
			notes = append(notes, "matches "+col.Pattern)
		}
	}
	return strings.Join(notes, "; ")
}

// expectations says, for people, how src's files are expected to arrive.
func expectations(src *config.Source) []string {
	var out []string
	if src.MaxRejects.Set {
		out = append(out, "at most "+src.MaxRejects.String()+" of a file's rows rejected")
	}
	if e := src.Expect; e != nil {
		s := "a file every " + e.Every
		if e.Per != "" {
			s += " per " + e.Per
		}
		if !e.Ended.IsZero() {
			s += ", until " + e.Ended.Format(time.DateOnly)
		}
		if len(e.Retired) > 0 {
			s += " (retired: " + strings.Join(e.Retired, ", ") + ")"
		}
		out = append(out, s+" ["+cmp.Or(e.Severity, "warn")+"]")
	}
	if f := src.Freshness; f != nil {
		out = append(out, fmt.Sprintf("freshness: a warning after %s, an error after %s", hours(f.WarnAfter.Duration), hours(f.ErrorAfter.Duration)))
	}
	if v := src.Volume; v != nil {
		out = append(out, fmt.Sprintf("volume: a warning below %s or above %s of the usual for the weekday", v.WarnBelow, v.WarnAbove))
	}
	return out
}

// hours writes d as people do: 26h, 1h30m.
func hours(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// mainFirst sorts a source's tables, its own table first.
func mainFirst(main string, tables []string) []string {
	out := slices.Sorted(slices.Values(tables))
	if i := slices.Index(out, main); i > 0 {
		out = append([]string{main}, slices.Delete(out, i, i+1)...)
	}
	return out
}

// sourceDeclarations returns each source of pipeline as written in the
// pipelines file, comments and all, re-indented to stand alone.
func sourceDeclarations(path, pipeline string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	if len(doc.Content) == 0 {
		return out, nil
	}
	sources := child(child(child(doc.Content[0], "pipelines"), pipeline), "sources")
	for i := 0; sources != nil && i+1 < len(sources.Content); i += 2 {
		text, err := yaml.Marshal(unalias(sources.Content[i+1]))
		if err != nil {
			return nil, err
		}
		out[sources.Content[i].Value] = string(text)
	}
	return out, nil
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// unalias copies n with every alias replaced by what it names: a source
// shown alone may use an anchor another source set.
func unalias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return unalias(n.Alias)
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = unalias(k)
	}
	return &c
}

// AddLedger adds to c what the ledger in pool holds of it: the checks'
// last results, the builds, the files, rejects, unmet expectations and
// the latest runs.
func (p *Folder) AddLedger(ctx context.Context, pool *pgxpool.Pool, c *docsite.Catalog) error {
	if err := p.addLedger(ctx, pool, c); err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	c.Ledger, c.NoLedger = true, ""
	return nil
}

func (p *Folder) addLedger(ctx context.Context, pool *pgxpool.Pool, c *docsite.Catalog) error {
	checks, err := p.ledger.LastChecks(ctx, pool)
	if err != nil {
		return err
	}
	builds, err := p.ledger.LastBuilds(ctx, pool)
	if err != nil {
		return err
	}
	for _, m := range c.Models {
		for _, ch := range m.Checks {
			if r, ok := checks[m.Name][ch.Name]; ok {
				ch.Last = &docsite.CheckResult{Failures: r.Failures, At: r.At, RunID: r.RunID}
			}
		}
		if b, ok := builds[m.Name]; ok {
			m.Built = &docsite.Build{Version: b.Version, Rows: b.Rows, At: b.Finished}
		}
	}
	if err := p.catalogFiles(ctx, pool, c); err != nil {
		return err
	}
	runs, err := p.ledger.Runs(ctx, pool, c.Pipeline, catalogRuns)
	if err != nil {
		return err
	}
	for _, r := range runs {
		dr := &docsite.Run{ID: r.ID, Command: r.Command, Status: r.Status, Started: r.Started, FilesLoaded: r.FilesLoaded,
			RowsLoaded: r.RowsLoaded, RowsRejected: r.RowsRejected, ModelsBuilt: r.ModelsBuilt, Error: r.Error}
		if r.Finished != nil {
			dr.Finished = *r.Finished
		}
		c.Runs = append(c.Runs, dr)
	}
	return nil
}

// catalogFiles adds to c's sources their files, rejects and the findings
// of the last check of their deliveries.
func (p *Folder) catalogFiles(ctx context.Context, pool *pgxpool.Pool, c *docsite.Catalog) error {
	counts, err := p.ledger.FileCounts(ctx, pool)
	if err != nil {
		return err
	}
	asOf, found, err := p.ledger.LastSourceCheck(ctx, pool)
	if err != nil {
		return err
	}
	for _, s := range c.Sources {
		n := counts[s.Name]
		s.Files = &docsite.FileCounts{Loaded: n.Loaded, Replaced: n.Replaced, Refused: n.Refused, Rows: n.RowsLoaded, Rejected: n.RowsRejected, Last: n.Last}
		rejects, err := p.ledger.Rejects(ctx, pool, ledger.RejectFilter{Source: s.Name, Limit: catalogRejects})
		if err != nil {
			return err
		}
		for _, r := range rejects {
			s.Rejects = append(s.Rejects, &docsite.Reject{File: r.File, Line: r.Line, Column: r.Column, Reason: r.Reason})
		}
		s.FindingsAsOf = asOf
		for _, e := range found {
			if e.Source == s.Name {
				s.Findings = append(s.Findings, &docsite.Finding{Kind: e.Kind, Group: e.Group, Day: e.Date, Severity: e.Severity, Detail: e.Detail})
			}
		}
	}
	return nil
}

package lineage

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
)

// Panel is a dashboard panel whose SQL reads the warehouse.
type Panel struct {
	Dashboard string `json:"dashboard"`
	Title     string `json:"title"`
	File      string `json:"file"`
	SQL       string `json:"-"`
	// Reads are the model columns the panel's queries read.
	Reads []Col `json:"reads,omitempty"`
	// Missing are columns it reads that their model does not have (any
	// more): the panel fails.
	Missing []Col `json:"missing,omitempty"`
	// Err is why the SQL could not be followed (a macro not known here).
	Err string `json:"error,omitempty"`
}

// String names a panel as people find it: "Revenue › By region".
func (p *Panel) String() string { return p.Dashboard + " › " + p.Title }

// dashboard is the part of a Grafana dashboard's JSON that holds SQL.
type dashboard struct {
	Title  string      `json:"title"`
	Panels []panelJSON `json:"panels"`
}

type panelJSON struct {
	Title   string `json:"title"`
	Targets []struct {
		RawSQL string `json:"rawSql"`
	} `json:"targets"`
	Panels []panelJSON `json:"panels"` // a row's panels
}

// ReadPanels reads the panels of every dashboard (*.json) in dir of fsys
// and follows the columns their SQL reads in l. A missing dir has none.
func (l *Graph) ReadPanels(fsys fs.FS, dir string) ([]*Panel, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Panel
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		var add func(ps []panelJSON)
		add = func(ps []panelJSON) {
			for _, p := range ps {
				add(p.Panels)
				for _, t := range p.Targets {
					if t.RawSQL == "" {
						continue
					}
					out = append(out, l.panel(d.Title, p.Title, f, t.RawSQL))
				}
			}
		}
		add(d.Panels)
	}
	return out, nil
}

func (l *Graph) panel(dash, title, file, sql string) *Panel {
	p := &Panel{Dashboard: dash, Title: title, File: file, SQL: sql}
	q, err := Analyze(Expand(sql), l.Columns)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	for _, c := range q.Reads {
		if rel, _ := Split(c); l.models[rel] != nil && !slices.Contains(p.Reads, c) {
			p.Reads = append(p.Reads, c)
		}
	}
	for _, c := range q.Missing {
		if rel, _ := Split(c); l.models[rel] != nil {
			p.Missing = append(p.Missing, c)
		}
	}
	return p
}

var (
	timeFilter = regexp.MustCompile(`\$__(?:timeFilter|unixEpochFilter|unixEpochNanoFilter)\(([^)]*)\)`)
	timeGroup  = regexp.MustCompile(`\$__(?:timeGroup|unixEpochGroup)(Alias)?\(([^,)]*)[^)]*\)`)
	macro      = regexp.MustCompile(`\$__\w+(\([^)]*\))?`)
	variable   = regexp.MustCompile(`\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]`)
)

// Expand replaces Grafana's macros and variables with SQL that reads the
// same columns, so that PostgreSQL's parser can read a panel's query.
func Expand(sql string) string {
	sql = timeFilter.ReplaceAllString(sql, "($1) IS NOT NULL")
	sql = timeGroup.ReplaceAllStringFunc(sql, func(m string) string {
		g := timeGroup.FindStringSubmatch(m)
		if g[1] != "" {
			return g[2] + ` AS "time"`
		}
		return g[2]
	})
	sql = macro.ReplaceAllString(sql, "NULL")
	return variable.ReplaceAllString(sql, "NULL")
}

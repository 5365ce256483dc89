package grafana

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// panelTypes are Grafana 11's core visualisations that show a query's rows.
var panelTypes = []string{"timeseries", "table", "stat", "gauge", "bargauge", "barchart", "piechart",
	"heatmap", "histogram", "state-timeline", "status-history"}

// name is a relation or column as the renderer writes it into SQL,
// unquoted: so only a plain one.
var name = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

// check refuses what Grafana could not show, naming the line.
func (d *Dashboard) check(root *yaml.Node) error {
	bad := func(n *yaml.Node, key, format string, args ...any) error {
		return &Error{File: d.Path, Line: keyLine(n, key), Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case d.UID == "":
		return bad(root, "uid", "a dashboard needs a uid")
	case d.Title == "":
		return bad(root, "title", "a dashboard needs a title")
	case len(d.Panels) == 0:
		return bad(root, "panels", "a dashboard needs panels")
	}
	for i, v := range d.Variables {
		n := item(root, "variables", i)
		switch {
		case !name.MatchString(v.Name) || strings.Contains(v.Name, "."):
			return bad(n, "name", "variable name %q: want a plain name (letters, digits, _)", v.Name)
		case v.SQL == "":
			return bad(n, "sql", "variable %s: its values need sql", v.Name)
		case v.Name == ShiftVariable || slices.ContainsFunc(rangeVariables, func(r rangeVariable) bool { return r.Name == v.Name }):
			return bad(n, "name", "variable name %q is the data link's own", v.Name)
		}
	}
	if l := d.DataLink; l != nil && (!name.MatchString(l.Table) || !name.MatchString(l.Column) || strings.Contains(l.Column, ".")) {
		return bad(root, "data_link", "data_link: want a table (schema.name) and a date column, plain names, not %q and %q", l.Table, l.Column)
	}
	titles := map[string]bool{}
	for i := range d.Panels {
		p, n := &d.Panels[i], item(root, "panels", i)
		if err := p.check(); err != nil {
			return &Error{File: d.Path, Line: keyLine(n, err.key), Msg: fmt.Sprintf("panel %q: %s", p.Title, err.msg)}
		}
		if v := unknownVariable(p.SQL, d.Variables); v != "" {
			return bad(n, "sql", "panel %q: its sql reads $%s, which is no variable of the dashboard", p.Title, v)
		}
		if titles[p.Title] {
			return bad(n, "title", "panel %q: a second panel of that title (panels are named by their titles)", p.Title)
		}
		titles[p.Title] = true
	}
	return nil
}

// keyError is a problem with a key of a declaration.
type keyError struct{ key, msg string }

func (p *Panel) check() *keyError {
	table := p.Type == "table"
	switch {
	case p.Title == "":
		return &keyError{"title", "a panel needs a title"}
	case !slices.Contains(panelTypes, p.Type):
		return &keyError{"type", fmt.Sprintf("type %q: want one of %s", p.Type, strings.Join(panelTypes, ", "))}
	case p.Format != "" && p.Format != "time_series" && p.Format != "table":
		return &keyError{"format", fmt.Sprintf("format %q: want time_series or table", p.Format)}
	case strings.TrimSpace(p.SQL) == "":
		return &keyError{"sql", "a panel needs sql"}
	case p.Width < 1 || p.Width > 24 || p.Height < 1:
		return &keyError{"width", fmt.Sprintf("width %d, height %d: want a width of 1 to 24 columns and a height", p.Width, p.Height)}
	case p.Heat && !table, p.Matrix != nil && !table, p.Colors != nil && !table:
		return &keyError{"type", "heat, matrix and colors are for tables"}
	case p.EachRow != "" && !slices.Contains([]string{"bargauge", "gauge", "stat"}, p.Type):
		return &keyError{"each_row", "each_row is for bargauge, gauge and stat panels"}
	case p.EachRow != "" && len(p.Columns) > 0 && !slices.Contains(p.Columns, p.EachRow):
		return &keyError{"each_row", fmt.Sprintf("each_row %q is not one of its columns %v", p.EachRow, p.Columns)}
	case p.Matrix != nil && (p.Matrix.Rows == "" || p.Matrix.Columns == "" || p.Matrix.Values == ""):
		return &keyError{"matrix", "matrix needs rows, columns and values (column names)"}
	case p.Colors != nil && (p.Colors.Column == "" || len(p.Colors.Values) == 0):
		return &keyError{"colors", "colors needs a column and values (value: colour)"}
	}
	return nil
}

func checkRules(file string, root *yaml.Node, rules []Rule) error {
	uids := map[string]bool{}
	for i, r := range rules {
		n := item(root, "rules", i)
		bad := func(key, format string, args ...any) error {
			return &Error{File: file, Line: keyLine(n, key), Msg: fmt.Sprintf(format, args...)}
		}
		switch {
		case r.UID == "" || r.Title == "" || strings.TrimSpace(r.SQL) == "":
			return bad("uid", "a rule needs a uid, a title and sql")
		case uids[r.UID]:
			return bad("uid", "a second rule of uid %q", r.UID)
		case unknownVariable(r.SQL, nil) != "":
			return bad("sql", "rule %s: its sql reads $%s: a rule has no variables, only Grafana's $__macros", r.UID, unknownVariable(r.SQL, nil))
		case r.NoData != "" && !slices.Contains([]string{"OK", "Alerting", "NoData", "KeepLast"}, r.NoData):
			return bad("no_data", "rule %s: no_data %q: want OK, Alerting, NoData or KeepLast", r.UID, r.NoData)
		}
		uids[r.UID] = true
	}
	return nil
}

// reference is a Grafana variable in SQL: $name, ${name} or ${name:format};
// $__name is one of Grafana's macros.
var reference = regexp.MustCompile(`\$\{?(\w+)`)

// unknownVariable is the first variable sql reads that is not one of vars,
// nor a macro.
func unknownVariable(sql string, vars []Variable) string {
	for _, m := range reference.FindAllStringSubmatch(sql, -1) {
		if strings.HasPrefix(m[1], "__") || slices.ContainsFunc(vars, func(v Variable) bool { return v.Name == m[1] }) {
			continue
		}
		return m[1]
	}
	return ""
}

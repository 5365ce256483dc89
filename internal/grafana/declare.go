package grafana

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/percolate/percolate/internal/config"
)

// DashboardsDir is the project folder that declares its dashboards, one
// YAML file each; AlertsDecl is the project file that declares its alert
// rules. Both are optional.
const (
	DashboardsDir = "dashboards"
	AlertsDecl    = "alerts.yaml"
)

// Provisioning is what a project declares for Grafana.
type Provisioning struct {
	Dashboards []*Dashboard
	// Rules are nil when the project has no alerts.yaml: no alerting file
	// is rendered then.
	Rules []Rule
}

// Dashboard is one dashboard, declared in dashboards/NAME.yaml and
// rendered to grafana/dashboards/NAME.json.
type Dashboard struct {
	UID   string   `yaml:"uid"`
	Title string   `yaml:"title"`
	Tags  []string `yaml:"tags"`
	// Variables are the filters a reader chooses (a query variable each,
	// its values from SQL); the panels' SQL reads them as $name.
	Variables []Variable `yaml:"variables"`
	// DataLink shifts the panels onto the newest loaded data when the
	// range holds none, and links to it (datarange.go): for dashboards of
	// the data's own days, not of runs, which are recent.
	DataLink *DataLink `yaml:"data_link"`
	Panels   []Panel   `yaml:"panels"`

	// File is the rendered file's name; Path the declaration's.
	File string `yaml:"-"`
	Path string `yaml:"-"`
}

// Variable is a multi-valued filter whose values a query reads.
type Variable struct {
	Name  string `yaml:"name"`
	Label string `yaml:"label"`
	SQL   string `yaml:"sql"`
	Multi bool   `yaml:"multi"`
	// All offers "All", selected when the dashboard opens.
	All bool `yaml:"all"`
}

// DataLink names the table and date column the newest loaded day is read
// from.
type DataLink struct {
	Table  string `yaml:"table"`
	Column string `yaml:"column"`
}

// Panel is one panel: its SQL and the columns it returns.
type Panel struct {
	Title string `yaml:"title"`
	Type  string `yaml:"type"`
	// Format is time_series or table; by default time_series for a
	// timeseries panel, else table.
	Format string `yaml:"format"`
	SQL    string `yaml:"sql"`
	// Columns are the columns the SQL returns, left to right: the tests that
	// run every panel's SQL hold it to them.
	Columns []string `yaml:"columns"`
	Width   int      `yaml:"width"`
	Height  int      `yaml:"height"`
	Unit    string   `yaml:"unit"`
	// Heat colours a table's cells by value (a heat map).
	Heat bool `yaml:"heat"`
	// EachRow shows a bar (gauge, stat) per row, of this column's value,
	// instead of one per column reduced to a single value.
	EachRow string `yaml:"each_row"`
	// Matrix pivots a table's rows into a grid.
	Matrix *Matrix `yaml:"matrix"`
	// Colors colours the cells of a table's column by their value.
	Colors *Colors `yaml:"colors"`
}

// Matrix is Grafana's grouping-to-matrix: one row per value of Rows, one
// column per value of Columns, cells of Values coloured by Colors.
type Matrix struct {
	Rows    string            `yaml:"rows"`
	Columns string            `yaml:"columns"`
	Values  string            `yaml:"values"`
	Colors  map[string]string `yaml:"colors"`
}

// Colors colours the cells of one column by value.
type Colors struct {
	Column string            `yaml:"column"`
	Values map[string]string `yaml:"values"`
}

// Rule is an alert rule: its SQL returns a row for each thing wrong
// (labelled by its text columns, valued by its last, a number) and none
// when all is well.
type Rule struct {
	UID   string `yaml:"uid"`
	Title string `yaml:"title"`
	// Severity is the label notifications are routed by.
	Severity string `yaml:"severity"`
	Summary  string `yaml:"summary"`
	SQL      string `yaml:"sql"`
	// NoData is Grafana's noDataState: OK by default; Alerting for a rule
	// whose SQL returns a row (valued 0 when well) for each thing watched,
	// so that no row at all means nothing ran and is a finding.
	NoData string `yaml:"no_data"`
}

// Error is a problem in a declaration file at a line: the project's
// configuration, as pipelines.yaml's are.
type Error = config.Error

// Load reads the dashboards and alert rules declared in the project
// folder fsys. A project that declares none has none.
func Load(fsys fs.FS) (*Provisioning, error) {
	files, err := fs.Glob(fsys, DashboardsDir+"/*.yaml")
	if err != nil {
		return nil, err
	}
	p := &Provisioning{}
	uids := map[string]string{}
	for _, f := range files {
		d := &Dashboard{Path: f, File: strings.TrimSuffix(path.Base(f), ".yaml") + ".json"}
		root, err := decode(fsys, f, d)
		if err != nil {
			return nil, err
		}
		if err := d.check(root); err != nil {
			return nil, err
		}
		if other, ok := uids[d.UID]; ok {
			return nil, &Error{File: f, Line: keyLine(root, "uid"), Msg: fmt.Sprintf("uid %q is %s's too", d.UID, other)}
		}
		uids[d.UID] = f
		p.Dashboards = append(p.Dashboards, d)
	}
	var rules alertsFile
	root, err := decode(fsys, AlertsDecl, &rules)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if err := checkRules(AlertsDecl, root, rules.Rules); err != nil {
		return nil, err
	}
	p.Rules = rules.Rules
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	return p, nil
}

// decode reads name strictly into v (a misspelt key is an error) and
// returns its document's root mapping, whose nodes give the lines of
// what check finds.
func decode(fsys fs.FS, name string, v any) (*yaml.Node, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Msg: "an empty declaration"}
	} else if err != nil {
		return nil, yamlError(name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	return doc.Content[0], nil
}

var (
	yamlLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type grafana\.(\w+)$`)
)

// yamlError rewrites yaml.v3's messages as file:line: message.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if f := unknownField.FindStringSubmatch(text); f != nil {
		text = fmt.Sprintf("unknown key %q in %s", f[1], sections[f[2]])
	}
	return &Error{File: name, Line: line, Msg: text}
}

// sections name the types of the declarations as their reader knows them.
var sections = map[string]string{"Dashboard": "a dashboard", "Variable": "a variable", "DataLink": "data_link",
	"Panel": "a panel", "Matrix": "matrix", "Colors": "colors", "Rule": "a rule", "alertsFile": "the alerts file"}

// alertsFile is alerts.yaml.
type alertsFile struct {
	Rules []Rule `yaml:"rules"`
}

// keyLine is the line of key in mapping n, else n's own.
func keyLine(n *yaml.Node, key string) int {
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	if n == nil {
		return 0
	}
	return n.Line
}

// item is the i-th element of the sequence under key in mapping n.
func item(n *yaml.Node, key string, i int) *yaml.Node {
	for j := 0; n != nil && j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key && i < len(n.Content[j+1].Content) {
			return n.Content[j+1].Content[i]
		}
	}
	return n
}

// Package config decodes pipelines.yaml strictly: a misspelt key, a missing
// field or a value of the wrong kind is an error that names the file and
// the line, before anything touches a database.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the only pipelines.yaml version this Percolate reads.
const Version = 1

// File is a decoded pipelines.yaml.
type File struct {
	Version   int                  `yaml:"version"`
	Pipelines map[string]*Pipeline `yaml:"pipelines"`
	// Seeds are the contracts of the project's seeds (seeds/<schema>/<name>.csv),
	// by relation name; a seed without one is all text (see seeds.go).
	Seeds map[string]*Seed `yaml:"seeds"`
	// Vars are values models read with percolate.var('name').
	Vars map[string]string `yaml:"vars"`

	// Path is where the file was read from; Dir is its folder, against which
	// relative paths in it are resolved.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// Pipeline is one named entry: its sources and the folder of its models.
type Pipeline struct {
	Description string             `yaml:"description"`
	Models      string             `yaml:"models"`
	Sources     map[string]*Source `yaml:"sources"`
	// SuccessWithin is how long the pipeline may go without a successful
	// run before Grafana alerts (health.last_success); 0: 26h.
	SuccessWithin Duration `yaml:"success_within"`

	Name string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Source is a set of raw files with a declared column contract.
type Source struct {
	Description string `yaml:"description"`
	Path        string `yaml:"path"`
	FileFormat  string `yaml:"format"` // of the files: csv
	Header      Header `yaml:"header"`
	// Encoding is the files' character set: utf-8 (the default), or
	// windows-1252 or latin-1, which are transcoded as they are read.
	Encoding   string     `yaml:"encoding"`
	TimeZone   string     `yaml:"time_zone"`
	Table      string     `yaml:"table"`
	MaxRejects MaxRejects `yaml:"max_rejects"`
	Key        Key        `yaml:"key"`
	FileDate   *FileDate  `yaml:"file_date"`
	Columns    []*Column  `yaml:"columns"`
	// Expect, Freshness and Volume say how the source's files are
	// expected to arrive, checked after every run (see expect.go).
	Expect    *Expect    `yaml:"expect"`
	Freshness *Freshness `yaml:"freshness"`
	Volume    *Volume    `yaml:"volume"`
	// Sums, when set, declares a table the loader also writes: each file's
	// rows counted and summed by day (and hour) and the columns named, so
	// that sums by those read one row per file and group, not every row.
	Sums *RowSums `yaml:"sums"`
	// DistributedBy is the column a distributed engine (Citus) shards the
	// source's staging tables by; every one of them must have it (carry
	// it onto item rows). Nothing on plain PostgreSQL.
	DistributedBy string `yaml:"distributed_by"`
	// Immutable declares that a file, once in its folder, is never
	// rewritten: new data comes as new files. A run then reads a path at
	// most once and lists again only the folders whose modification time
	// moved since it last listed them (see loaders.Listing), so that a
	// nightly run costs what arrived, not the whole history.
	Immutable bool `yaml:"immutable,omitempty"`
	// MaxFieldBytes, MaxLineBytes and MaxReasonBytes bound what one field
	// and one line of a file may hold, and what the loader says of a row
	// (a reject's reason and its masked row, a refusal's reason); 0 means
	// the defaults (see Limits).
	MaxFieldBytes  int `yaml:"max_field_bytes,omitempty"`
	MaxLineBytes   int `yaml:"max_line_bytes,omitempty"`
	MaxReasonBytes int `yaml:"max_reason_bytes,omitempty"`

	Name     string         `yaml:"-"`
	Line     int            `yaml:"-"`
	Location *time.Location `yaml:"-"`
}

// FileDate reads the day a file holds from its name: the first group of
// Pattern, in Layout (strftime). Backfills use it to pick files by date
// without opening them.
type FileDate struct {
	Pattern string `yaml:"pattern"`
	Layout  string `yaml:"layout"`

	re       *regexp.Regexp
	goLayout string
}

// Date returns the day in the file name, if the pattern finds one.
func (d *FileDate) Date(name string) (time.Time, bool) {
	m := d.re.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(d.goLayout, m[1])
	return t, err == nil
}

// Key says how a row's id is made: a keyed hash (HMAC-SHA256) of the named
// columns' canonical parsed values. Personal columns may take part: only
// the keyed hash leaves the loader.
type Key struct {
	Column string   `yaml:"column"`
	From   []string `yaml:"from"`
	// Repeated, when set, names a boolean column that is true for a row
	// whose id came earlier in the same file (NULL where the loader could
	// not tell: past a million rows of one file).
	Repeated string `yaml:"repeated"`
}

// Column is one field of a source row, in file order.
type Column struct {
	Name     string   `yaml:"name"`
	Type     string   `yaml:"type"`
	Personal string   `yaml:"personal"`
	Layouts  []string `yaml:"layouts"`
	Local    string   `yaml:"local"`
	Date     string   `yaml:"date"`
	Scale    int      `yaml:"scale"`
	Values   []string `yaml:"values"`
	SumOf    string   `yaml:"sum_of"`
	Items    *Items   `yaml:"items"`
	// SumOfField is the item field SumOf totals (sum_of: basket.price, or
	// the items' only number).
	SumOfField string `yaml:"-"`
	// Pattern, for a text column, is a regular expression every value must
	// match (anchor it to match whole values).
	Pattern string `yaml:"pattern"`
	// Header lists the names a header line may give the column, besides
	// its name (compared as words, whatever their case and punctuation; a
	// field of several words names it by one of them: see loaders); a
	// header line that names it otherwise is refused, saying the line to
	// add here, or that it names another column (another layout).
	Header []string `yaml:"header"`
	// FileName, for a text column, is a regular expression whose one group
	// captures from a file's base name what every value of the column must
	// agree with (compared as words: case, spaces and punctuation do not
	// matter); a file whose name it does not match is not checked.
	FileName string `yaml:"file_name,omitempty"`
	// Optional makes an empty field NULL instead of a reject; NullValues
	// lists further spellings that mean NULL ("NA", "n/a") and implies
	// Optional. Required is the default: a file that leaves a required
	// field empty has broken its contract.
	Optional   bool     `yaml:"optional,omitempty"`
	NullValues []string `yaml:"null_values,omitempty"`

	Line int `yaml:"-"`
	// GoLayouts are Layouts translated from strftime to Go's time layouts.
	GoLayouts []string `yaml:"-"`
	// Re is Pattern compiled.
	Re *regexp.Regexp `yaml:"-"`
	// FileNameRe is FileName compiled.
	FileNameRe *regexp.Regexp `yaml:"-"`
}

// IsNull reports whether field f of the column means NULL: empty or one of
// its null_values, in a column that is optional.
func (c *Column) IsNull(f string) bool {
	if !c.Optional {
		return false
	}
	if f == "" {
		return true
	}
	for _, v := range c.NullValues {
		if f == v {
			return true
		}
	}
	return false
}

// RowSums declares the table of a file's rows summed (Source.Sums): one
// row per file, day and group of the By columns (and local hour, when Hour
// names its column), with how many rows (Count), the totals of the Sum
// columns (numeric or integer columns, or an items column's count), and,
// when Repeats is set, how many of them the key marks repeated or could
// not tell.
type RowSums struct {
	Table   string   `yaml:"table"`
	By      []string `yaml:"by"`
	Hour    string   `yaml:"hour"`
	Count   string   `yaml:"count"`
	Sum     []string `yaml:"sum"`
	Repeats string   `yaml:"repeats"`
}

// Column types.
const (
	Text      = "text"
	Numeric   = "numeric"
	Integer   = "integer"
	Timestamp = "timestamp"
	List      = "items"
)

// Encodings a source may declare.
const (
	UTF8        = "utf-8"
	Windows1252 = "windows-1252"
	Latin1      = "latin-1"
)

// encodings maps the names an encoding goes by to the one Percolate uses.
var encodings = map[string]string{
	"utf-8": UTF8, "utf8": UTF8,
	"windows-1252": Windows1252, "cp1252": Windows1252,
	"latin-1": Latin1, "latin1": Latin1, "iso-8859-1": Latin1,
}

// Personal data treatments.
const (
	Drop = "drop"
	Hash = "hash"
)

// Header says whether files start with a header line.
type Header string

// Header values.
const (
	HeaderNo   Header = "false"
	HeaderYes  Header = "true"
	HeaderAuto Header = "auto"
)

// UnmarshalYAML takes true, false or auto.
func (h *Header) UnmarshalYAML(n *yaml.Node) error {
	switch strings.ToLower(n.Value) {
	case "true", "yes":
		*h = HeaderYes
	case "false", "no", "":
		*h = HeaderNo
	case "auto":
		*h = HeaderAuto
	default:
		return fmt.Errorf("line %d: header must be true, false or auto, not %q", n.Line, n.Value)
	}
	return nil
}

// MaxRejects bounds the rejected rows a file may have before it is refused
// whole: a count (10) or a fraction of its rows (0.01 or "1%").
type MaxRejects struct {
	Count    int
	Fraction float64
	Set      bool
}

// UnmarshalYAML takes an integer, a fraction below 1, or a percentage.
func (m *MaxRejects) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	*m = MaxRejects{Set: true}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("line %d: max_rejects: %q is not a percentage", n.Line, v)
		}
		m.Fraction = f / 100
		return nil
	}
	if i, err := strconv.Atoi(v); err == nil && i >= 0 {
		m.Count = i
		return nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1 {
		m.Fraction = f
		return nil
	}
	return fmt.Errorf("line %d: max_rejects must be a count (10), a fraction (0.01) or a percentage (\"1%%\"), not %q", n.Line, v)
}

// Allows reports whether rejected rejects out of total rows are tolerated.
func (m MaxRejects) Allows(rejected, total int64) bool {
	if !m.Set {
		return rejected == 0
	}
	if m.Fraction > 0 {
		return float64(rejected) <= m.Fraction*float64(total)
	}
	return rejected <= int64(m.Count)
}

func (m MaxRejects) String() string {
	if m.Fraction > 0 {
		return strconv.FormatFloat(m.Fraction*100, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(m.Count)
}

// Error is a problem in pipelines.yaml at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads and checks the pipelines file at path.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Parse decodes and checks a pipelines file read from path.
func Parse(path string, b []byte) (*File, error) {
	f := &File{Path: path, Dir: filepath.Dir(path)}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlError(path, err, nil)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, yamlError(path, err, &root)
	}
	if err := f.check(&root); err != nil {
		return nil, err
	}
	return f, nil
}

// yamlError rewrites yaml.v3's messages as file:line: message; root,
// when the file parsed, names the key of a value of the wrong type.
func yamlError(path string, err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		text := m[2]
		if f := unknownField.FindStringSubmatch(text); f != nil {
			section, ok := sections[f[2]]
			if !ok {
				section = strings.ToLower(f[2])
			}
			text = fmt.Sprintf("unknown key %q in %s", f[1], section)
			if hint, ok := moved[f[2]+"."+f[1]]; ok {
				text += ": " + hint
			}
		}
		if b := notBool.FindStringSubmatch(text); b != nil {
			text = fmt.Sprintf("want true or false, got %q", b[1])
			if where := keyAt(root, line, b[1]); where != "" {
				text = where + ": " + text
			}
		}
		return &Error{File: path, Line: line, Msg: text}
	}
	return &Error{File: path, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

var unknownField = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)

// notBool is yaml.v3's message for a value a true-or-false key cannot take.
var notBool = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into bool$")

// moved says where keys that earlier releases read went.
var moved = map[string]string{
	"Items.sizes":   "an item's fields are declared in fields now, e.g. fields: [{name: size, values: [Regular, Large], optional: true}, product, {name: price, type: numeric, scale: 2}]",
	"Items.scale":   "a numeric item field has its own scale now: fields: [..., {name: price, type: numeric, scale: 2}]",
	"Items.pattern": "a text item field has its own pattern now: fields: [..., {name: product, pattern: '...'}]",
}

// sections names the sections of pipelines.yaml whose type is not named
// as its key: a user knows the key.
var sections = map[string]string{"ItemField": "an item's field", "RowSums": "sums", "FileDate": "file_date", "MaxRejects": "max_rejects"}

// Pipeline returns the named pipeline; with name empty, the only one.
func (f *File) Pipeline(name string) (*Pipeline, error) {
	if name == "" {
		if len(f.Pipelines) == 1 {
			for _, p := range f.Pipelines {
				return p, nil
			}
		}
		return nil, &Error{File: f.Path, Msg: fmt.Sprintf("it declares %d pipelines (%s): name one", len(f.Pipelines), strings.Join(f.Names(), ", "))}
	}
	p, ok := f.Pipelines[name]
	if !ok {
		return nil, &Error{File: f.Path, Msg: fmt.Sprintf("no pipeline %q (it has: %s)", name, strings.Join(f.Names(), ", "))}
	}
	return p, nil
}

// Names lists the pipelines in name order.
func (f *File) Names() []string {
	var names []string
	for n := range f.Pipelines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SourceNames lists a pipeline's sources in name order.
func (p *Pipeline) SourceNames() []string {
	var names []string
	for n := range p.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve makes a path from pipelines.yaml absolute against its folder.
func (f *File) Resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.Dir, p)
}

// The default sizes a source's files may hold. A field of a megabyte and a
// line of four are far beyond any real row (a cafe's longest is under a
// kilobyte) yet keep a file of one endless line to a few megabytes of
// memory. A stored reason of 512 bytes says which column broke which rule;
// it is read by people and dashboards, never parsed.
const (
	DefaultMaxFieldBytes  = 1 << 20
	DefaultMaxLineBytes   = 4 << 20
	DefaultMaxReasonBytes = 512
)

// Limits are the sizes a source's files are held to, defaults filled in.
type Limits struct {
	Field, Line, Reason int
}

// Limits returns the source's declared sizes, or the defaults.
func (s *Source) Limits() Limits {
	l := Limits{Field: s.MaxFieldBytes, Line: s.MaxLineBytes, Reason: s.MaxReasonBytes}
	if l.Field == 0 {
		l.Field = DefaultMaxFieldBytes
	}
	if l.Line == 0 {
		l.Line = DefaultMaxLineBytes
	}
	if l.Reason == 0 {
		l.Reason = DefaultMaxReasonBytes
	}
	return l
}

// keyAt names, as the checks name what they find wrong ("source tx:
// immutable"), the key whose scalar value is value on line; "" when none
// is.
func keyAt(n *yaml.Node, line int, value string) string {
	if n == nil {
		return ""
	}
	var find func(n *yaml.Node, where []string) []string
	find = func(n *yaml.Node, where []string) []string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if w := find(c, where); w != nil {
					return w
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				label := "item"
				if name := child(c, "name"); name != nil && len(where) > 0 {
					label = strings.TrimSuffix(where[len(where)-1], "s") + " " + name.Value
				}
				if w := find(c, append(where[:len(where):len(where)], label)); w != nil {
					return w
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				here := append(where[:len(where):len(where)], k.Value)
				if v.Kind == yaml.ScalarNode && v.Line == line && v.Value == value {
					return here
				}
				if w := find(v, here); w != nil {
					return w
				}
			}
		}
		return nil
	}
	return describe(find(n, nil))
}

// describe says a path of keys as the checks do: "pipelines: cafe:
// sources: tx: immutable" is "source tx: immutable", and a column named
// total in a list of columns is "column total".
func describe(path []string) string {
	var out []string
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == "pipelines" && i+1 < len(path):
			i++ // one pipeline's keys are said as its own
		case path[i] == "sources" && i+1 < len(path):
			out = append(out, "source "+path[i+1])
			i++
		case path[i] == "columns" || path[i] == "fields":
			// The item after says "column total".
		default:
			out = append(out, path[i])
		}
	}
	return strings.Join(out, ": ")
}

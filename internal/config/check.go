package config

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var relName = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)

// identifier is a column name that needs no quoting.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// check validates what the YAML decoder cannot: required fields, references
// between fields, time zones and layouts. Each error names its line.
func (f *File) check(root *yaml.Node) error {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	errf := func(n *yaml.Node, format string, args ...any) error {
		line := 0
		if n != nil {
			line = n.Line
		}
		return &Error{File: f.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if f.Version != Version {
		return errf(child(doc, "version"), "version must be %d (got %d): put `version: %d` first", Version, f.Version, Version)
	}
	if len(f.Pipelines) == 0 {
		return errf(doc, "no pipelines declared")
	}
	if err := f.checkSeeds(doc, errf); err != nil {
		return err
	}
	pipes := child(doc, "pipelines")
	for _, pname := range f.Names() {
		p := f.Pipelines[pname]
		pn := child(pipes, pname)
		p.Name, p.Line = pname, line(pn)
		if p.Models == "" {
			return errf(pn, "pipeline %s: models: the folder of its SQL models is required", pname)
		}
		sources := child(pn, "sources")
		for _, sname := range p.SourceNames() {
			s := p.Sources[sname]
			sn := child(sources, sname)
			s.Name, s.Line = sname, line(sn)
			if err := s.check(sn, errf); err != nil {
				return err
			}
		}
	}
	return nil
}

type errorf func(n *yaml.Node, format string, args ...any) error

// check checks a source as declared at sn and fills in its defaults and
// what its declaration compiles to (its time zone, its file_date pattern).
func (s *Source) check(sn *yaml.Node, errf errorf) error {
	at := func(key string) *yaml.Node {
		if n := child(sn, key); n != nil {
			return n
		}
		return sn
	}
	if err := s.checkFile(sn, at, errf); err != nil {
		return err
	}
	if err := s.checkLimits(at, errf); err != nil {
		return err
	}
	if len(s.Columns) == 0 {
		return errf(sn, "source %s: columns: the column contract is required", s.Name)
	}
	cols := child(sn, "columns")
	seen := map[string]bool{}
	for i, c := range s.Columns {
		cn := item(cols, i)
		c.Line = line(cn)
		if err := c.check(s, cn, errf); err != nil {
			return err
		}
		if seen[c.Name] {
			return errf(cn, "source %s: column %s declared twice", s.Name, c.Name)
		}
		seen[c.Name] = true
	}
	if err := s.checkItems(at, cols, seen, errf); err != nil {
		return err
	}
	if err := s.checkFileDate(at("file_date"), errf); err != nil {
		return err
	}
	if err := s.checkKey(at("key"), seen, errf); err != nil {
		return err
	}
	if s.Sums != nil {
		if err := s.checkSums(at("sums"), errf); err != nil {
			return err
		}
	}
	if d := s.DistributedBy; d != "" {
		if err := s.checkDistribution(at("distributed_by"), errf); err != nil {
			return err
		}
	}
	return s.checkExpectations(at, errf)
}

// checkFile checks how a source's files are found and read: its path,
// format, header, encoding, table and time zone.
func (s *Source) checkFile(sn *yaml.Node, at func(string) *yaml.Node, errf errorf) error {
	if s.Path == "" {
		return errf(sn, "source %s: path is required (a glob of its files)", s.Name)
	}
	if s.FileFormat == "" {
		s.FileFormat = "csv"
	}
	if s.FileFormat != "csv" {
		return errf(at("format"), "source %s: format %q is not supported (only csv)", s.Name, s.FileFormat)
	}
	if s.Header == "" {
		s.Header = HeaderNo
	}
	enc, ok := encodings[strings.ToLower(cmp.Or(s.Encoding, UTF8))]
	if !ok {
		return errf(at("encoding"), "source %s: encoding %q is not one of utf-8, windows-1252, latin-1", s.Name, s.Encoding)
	}
	s.Encoding = enc
	if !relName.MatchString(s.Table) {
		return errf(at("table"), "source %s: table must be a schema-qualified staging table such as staging.%s, not %q", s.Name, s.Name, s.Table)
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return errf(at("time_zone"), "source %s: time_zone %q: %v", s.Name, s.TimeZone, err)
	}
	s.Location = loc
	return nil
}

// checkFileDate compiles a source's file_date, when it has one, declared
// at n.
func (s *Source) checkFileDate(n *yaml.Node, errf errorf) error {
	fd := s.FileDate
	if fd == nil {
		return nil
	}
	re, err := regexp.Compile(fd.Pattern)
	if err != nil || re.NumSubexp() != 1 {
		return errf(n, "source %s: file_date: pattern must be a regular expression with one group around the date (%v)", s.Name, err)
	}
	l, err := goLayout(fd.Layout)
	if err != nil || fd.Layout == "" {
		return errf(n, "source %s: file_date: layout %q: want a strftime layout such as %%d-%%m-%%Y", s.Name, fd.Layout)
	}
	fd.re, fd.goLayout = re, l
	return nil
}

// checkKey holds a source's key, declared at kn, to the columns seen.
func (s *Source) checkKey(kn *yaml.Node, seen map[string]bool, errf errorf) error {
	if s.Key.Column == "" || len(s.Key.From) == 0 {
		return errf(kn, "source %s: key: column (the id to make) and from (the columns it is made of) are required", s.Name)
	}
	for _, k := range s.Key.From {
		if !seen[k] {
			return errf(kn, "source %s: key: from names %q, which is not a column", s.Name, k)
		}
	}
	if r := s.Key.Repeated; r != "" && (seen[r] || r == s.Key.Column) {
		return errf(kn, "source %s: key: repeated names %q, a column already: name a new one", s.Name, r)
	}
	return nil
}

// checkSums holds a source's row sums to columns that can be grouped by
// (text, integer or numeric columns that are not personal data) and summed
// (numeric or integer columns, or an items column's count), with new
// names for the columns they make.
func (s *Source) checkSums(n *yaml.Node, errf errorf) error {
	sm := s.Sums
	where := fmt.Sprintf("source %s: sums", s.Name)
	col := func(name string) *Column {
		for _, c := range s.Columns {
			if c.Name == name {
				return c
			}
		}
		return nil
	}
	day := s.DayColumn()
	items := map[string]bool{} // the items columns' counts
	for _, c := range s.Columns {
		if c.Type == List && c.Personal == "" {
			items[c.Items.Count] = true
		}
	}
	switch {
	case !relName.MatchString(sm.Table) || sm.Table == s.Table:
		return errf(n, "%s: table must be a schema-qualified staging table of its own, not %q", where, sm.Table)
	case sm.Count == "":
		return errf(n, "%s: count names the column of how many rows each sum has, e.g. count: rows", where)
	case sm.Hour != "" && day == "":
		return errf(n, "%s: hour needs a timestamp column that makes a day (date:)", where)
	}
	for _, c := range s.Columns {
		if c.Type == List && c.Personal == "" && (sm.Table == c.Items.Table || c.Items.Sums != nil && sm.Table == c.Items.Sums.Table) {
			return errf(n, "%s: table %s is the items' already: name a table of its own", where, sm.Table)
		}
	}
	taken := []string{"load_id"}
	if day != "" {
		taken = append(taken, day)
	}
	for _, name := range sm.By {
		c := col(name)
		switch {
		case c == nil:
			return errf(n, "%s: by names %q, which is not a column", where, name)
		case c.Personal != "":
			return errf(n, "%s: by names %q, which is personal data: it goes nowhere", where, name)
		case c.Type == Timestamp || c.Type == List:
			return errf(n, "%s: by names %q, a %s column: group by text, integer or numeric columns (the day always, the hour with hour:)", where, name, c.Type)
		case slices.Contains(taken, name):
			return errf(n, "%s: by names %q twice", where, name)
		}
		taken = append(taken, name)
	}
	for _, name := range sm.Sum {
		c := col(name)
		switch {
		case items[name]:
		case c == nil:
			return errf(n, "%s: sum names %q, which is neither a column nor an items column's count", where, name)
		case c.Personal != "":
			return errf(n, "%s: sum names %q, which is personal data: it goes nowhere", where, name)
		case c.Type != Numeric && c.Type != Integer:
			return errf(n, "%s: sum names %q, a %s column: sum numeric or integer columns", where, name, cmp.Or(c.Type, Text))
		}
		if slices.Contains(taken, name) {
			return errf(n, "%s: sum names %q, a column of %s already", where, name, sm.Table)
		}
		taken = append(taken, name)
	}
	if sm.Repeats != "" && s.Key.Repeated == "" {
		return errf(n, "%s: repeats counts the rows the key marks repeated: set key: repeated first", where)
	}
	for _, name := range []string{sm.Hour, sm.Count, sm.Repeats} {
		if name == "" {
			continue
		}
		if slices.Contains(taken, name) {
			return errf(n, "%s: %q is a column of %s already: name a new column", where, name, sm.Table)
		}
		taken = append(taken, name)
	}
	return nil
}

// checkDistribution holds distributed_by to a column that every staging
// table of the source has: a column of the row that is not personal data,
// carried onto item rows (or the day every item row has).
func (s *Source) checkDistribution(n *yaml.Node, errf errorf) error {
	d := s.DistributedBy
	var col *Column
	for _, c := range s.Columns {
		if c.Name == d && c.Personal == "" && c.Type != List {
			col = c
			if c.Optional {
				return errf(n, "source %s: distributed_by: %q is optional: a row without it would have no shard", s.Name, d)
			}
		}
		if c.Date == d || c.Local == d {
			col = c
		}
	}
	if col == nil {
		return errf(n, "source %s: distributed_by: %q is not a column the source's table has (a column of the contract, not personal, not items)", s.Name, d)
	}
	if sm := s.Sums; sm != nil && col.Date != d && !slices.Contains(sm.By, d) {
		return errf(n, "source %s: distributed_by: %s: its sums table %s must have it too: add it to the sums' by", s.Name, d, sm.Table)
	}
	for _, c := range s.Columns {
		if c.Type != List || c.Personal != "" || col.Date == d {
			continue
		}
		if t := c.Items.Table; t != "" && !slices.Contains(c.Items.Carry, d) {
			return errf(n, "source %s: distributed_by: %s: its items table %s must have it too: add it to the items' carry", s.Name, d, t)
		}
		if sm := c.Items.Sums; sm != nil && !slices.Contains(sm.By, d) {
			return errf(n, "source %s: distributed_by: %s: its items' sums table %s must have it too: add it to the sums' by", s.Name, d, sm.Table)
		}
	}
	return nil
}

// checkLimits holds the declared sizes to what makes sense: positive, a
// field no longer than a line, room in a reason to name a column and a rule.
func (s *Source) checkLimits(at func(string) *yaml.Node, errf errorf) error {
	for _, d := range []struct {
		key string
		n   int
	}{{"max_field_bytes", s.MaxFieldBytes}, {"max_line_bytes", s.MaxLineBytes}, {"max_reason_bytes", s.MaxReasonBytes}} {
		if d.n < 0 {
			return errf(at(d.key), "source %s: %s must be a positive number of bytes, not %d", s.Name, d.key, d.n)
		}
	}
	l := s.Limits()
	if l.Field > l.Line {
		return errf(at("max_field_bytes"), "source %s: max_field_bytes (%d) is more than max_line_bytes (%d): a field is part of a line", s.Name, l.Field, l.Line)
	}
	if l.Reason < 64 {
		return errf(at("max_reason_bytes"), "source %s: max_reason_bytes must be at least 64, to name a column and a rule; not %d", s.Name, l.Reason)
	}
	return nil
}

func (c *Column) check(s *Source, cn *yaml.Node, errf errorf) error {
	at := func(key string) *yaml.Node {
		if n := child(cn, key); n != nil {
			return n
		}
		return cn
	}
	if c.Name == "" {
		return errf(cn, "source %s: a column needs a name", s.Name)
	}
	where := fmt.Sprintf("source %s: column %s", s.Name, c.Name)
	switch c.Personal {
	case "", Drop, Hash:
	default:
		return errf(at("personal"), "%s: personal must be drop or hash, not %q", where, c.Personal)
	}
	if c.Type == "" {
		c.Type = Text
	}
	if err := c.checkOptional(where, at, errf); err != nil {
		return err
	}
	switch c.Type {
	case Text, Integer:
	case Numeric:
		if c.Scale < 0 || c.Scale > MaxScale {
			return errf(at("scale"), "%s: scale must be between 0 and %d", where, MaxScale)
		}
	case Timestamp:
		if len(c.Layouts) == 0 {
			return errf(cn, "%s: a timestamp needs layouts, such as [\"%%d/%%m/%%Y %%H:%%M\"]", where)
		}
		c.GoLayouts = nil
		for _, l := range c.Layouts {
			g, err := goLayout(l)
			if err != nil {
				return errf(at("layouts"), "%s: layout %q: %v", where, l, err)
			}
			c.GoLayouts = append(c.GoLayouts, g)
		}
	case List:
		if c.Items == nil {
			return errf(cn, "%s: an items column needs items: {table, separator, format or fields}", where)
		}
		if c.Pattern != "" {
			return errf(at("pattern"), "%s: an items column's patterns go on its fields: items: fields: [{name: ..., pattern: ...}]", where)
		}
		return c.Items.check(where, at("items"), errf)
	default:
		return errf(at("type"), "%s: type %q is not one of text, numeric, integer, timestamp, items", where, c.Type)
	}
	if c.Type != Timestamp && (c.Local != "" || c.Date != "") {
		return errf(cn, "%s: local and date derive columns from a timestamp only", where)
	}
	if c.Pattern != "" {
		if c.Type != Text {
			return errf(at("pattern"), "%s: pattern applies to text columns", where)
		}
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			return errf(at("pattern"), "%s: pattern %q: %v", where, c.Pattern, err)
		}
		c.Re = re
	}
	if c.FileName != "" {
		if c.Type != Text || c.Personal != "" {
			return errf(at("file_name"), "%s: file_name applies to text columns that are not personal", where)
		}
		re, err := regexp.Compile(c.FileName)
		if err != nil || re.NumSubexp() != 1 {
			return errf(at("file_name"), "%s: file_name must be a regular expression with one group around what the column's values agree with (%v)", where, err)
		}
		c.FileNameRe = re
	}
	return nil
}

// checkOptional holds optional and null_values to columns whose field
// can be left NULL: not personal data (which stores no value to be NULL,
// or stores its hash), not an items column (which holds a list), not the
// timestamp that gives each row its day, not a total checked by sum_of.
func (c *Column) checkOptional(where string, at func(string) *yaml.Node, errf errorf) error {
	if !c.Optional && len(c.NullValues) == 0 {
		return nil
	}
	key := "optional"
	if len(c.NullValues) > 0 {
		key = "null_values"
	}
	var why string
	switch {
	case c.Personal != "":
		why = "a personal column stores no value that could be NULL"
	case c.Type == List:
		why = "an items column holds a list: declare optional item fields instead"
	case c.Type == Timestamp && c.Date != "":
		why = fmt.Sprintf("it gives each row its day (%s)", c.Date)
	case c.SumOf != "":
		why = "sum_of checks a total every row has"
	}
	if why != "" {
		return errf(at(key), "%s: %s applies to columns that may be left empty, not this one: %s", where, key, why)
	}
	c.Optional = true // null_values implies it
	return nil
}

// MaxScale bounds a numeric's decimals: values are exact 64-bit integers
// of at most 18 digits, so 6 decimals leave 12 before the point.
const MaxScale = 6

// goLayout translates a strftime layout (%d/%m/%Y %H:%M) into Go's.
func goLayout(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("ends with %%")
		}
		switch s[i] {
		case 'd':
			// One digit or two: spreadsheets write 12/1/2010 8:26.
			b.WriteString("2")
		case 'm':
			b.WriteString("1")
		case 'Y':
			b.WriteString("2006")
		case 'y':
			b.WriteString("06")
		case 'H':
			b.WriteString("15")
		case 'M':
			b.WriteString("04")
		case 'S':
			b.WriteString("05")
		case 'f':
			b.WriteString("999999")
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("%%%c is not supported (use %%d %%m %%Y %%y %%H %%M %%S %%f)", s[i])
		}
	}
	return b.String(), nil
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func item(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

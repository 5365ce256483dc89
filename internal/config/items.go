package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Items declares a nested list field that the loader explodes into items
// of the declared Fields, kept in one of two ways: in a child staging
// table, one row per item (Table), or in a text column of the row itself
// (Column), one line per item of its fields, in their declared order,
// parted by tabs. A row's items in its own row cost the server one row
// written instead of one per item: views unnest them.
type Items struct {
	Table string `yaml:"table"`
	// Column names the text column of the source's table that holds the
	// items, when they have no table of their own.
	Column    string `yaml:"column"`
	Separator string `yaml:"separator"`
	// Template, when set, reads each part between separators as one item
	// ("{size} {product} - {price}"); without it, the parts are the
	// fields of the items, a tuple of Fields at a time.
	Template string       `yaml:"format"`
	Fields   []*ItemField `yaml:"fields"`
	// Count, when set, names a column of the source's table that holds
	// how many items the row has.
	Count string `yaml:"count"`
	// Carry names columns of the row copied onto each of its item rows
	// (Table), so that item rows can be summed without a join to their
	// row.
	Carry []string `yaml:"carry"`
	// Sums, when set, declares a table the loader also writes: each file's
	// items counted and a field summed by day and the By columns, so that
	// sums by those read one row per file and group, not every item.
	Sums *Sums `yaml:"sums"`
}

// ItemField is one field of an item: text (the default), numeric or
// integer. A text field may be optional (empty is NULL), hold one of
// Values (in a format, an optional field with values is taken only when
// the item starts with one of them), and match Pattern.
type ItemField struct {
	Name     string   `yaml:"name"`
	Type     string   `yaml:"type,omitempty"`
	Scale    int      `yaml:"scale,omitempty"`
	Values   []string `yaml:"values,omitempty"`
	Optional bool     `yaml:"optional,omitempty"`
	Pattern  string   `yaml:"pattern,omitempty"`

	// Re is Pattern compiled.
	Re *regexp.Regexp `yaml:"-"`
}

// UnmarshalYAML takes a mapping, or a bare name for a required text field.
func (f *ItemField) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*f = ItemField{Name: n.Value}
		return nil
	}
	// Decoding through a method loses the decoder's strictness: a
	// misspelt key is said here, as the decoder says it.
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch k.Value {
		case "name", "type", "scale", "values", "optional", "pattern":
		default:
			return fmt.Errorf("line %d: field %s not found in type config.ItemField", k.Line, k.Value)
		}
	}
	type plain ItemField
	return n.Decode((*plain)(f))
}

// Field returns the index of the named item field, or -1.
func (it *Items) Field(name string) int {
	for i, f := range it.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Sums declares the table of a file's items summed (Items.Sums): one row
// per file, day and group of the By columns (item fields or columns of the
// row), with how many items (Count) and the total of the item field Of
// (Sum).
type Sums struct {
	Table string   `yaml:"table"`
	By    []string `yaml:"by,omitempty"`
	Count string   `yaml:"count"`
	Sum   string   `yaml:"sum"`
	// Of names the numeric or integer item field summed; it may be left
	// out when the item has only one.
	Of string `yaml:"of,omitempty"`
}

// MaxItemFields bounds the fields of an item: the loader keeps an item's
// values in arrays of this size, not in memory of their own.
const MaxItemFields = 8

func (it *Items) check(where string, n *yaml.Node, errf errorf) error {
	switch {
	case (it.Table == "") == (it.Column == ""):
		return errf(n, "%s: items: give either table (a staging table of one row per item) or column (a text column of the row that holds its items)", where)
	case it.Table != "" && !relName.MatchString(it.Table):
		return errf(n, "%s: items: table must be a schema-qualified staging table, not %q", where, it.Table)
	case it.Column != "" && !identifier.MatchString(it.Column):
		return errf(n, "%s: items: column must be a plain lower-case column name, not %q", where, it.Column)
	case it.Column != "" && it.Column == it.Count:
		return errf(n, "%s: items: column and count name the same column %q", where, it.Column)
	case it.Separator == "":
		return errf(n, "%s: items: separator is required", where)
	}
	if err := it.checkFields(where, n, errf); err != nil {
		return err
	}
	if it.Template != "" {
		toks, err := ParseTemplate(it.Template)
		if err != nil {
			return errf(n, "%s: items: format %q: %v", where, it.Template, err)
		}
		var names []string
		for _, t := range toks {
			if t.Field == "" {
				continue
			}
			if it.Field(t.Field) < 0 {
				return errf(n, "%s: items: format names {%s}, which is not one of the fields", where, t.Field)
			}
			if slices.Contains(names, t.Field) {
				return errf(n, "%s: items: format names {%s} twice", where, t.Field)
			}
			names = append(names, t.Field)
		}
		if len(names) != len(it.Fields) {
			return errf(n, "%s: items: format %q names %d of the %d fields: it must name every one", where, it.Template, len(names), len(it.Fields))
		}
	}
	if sm := it.Sums; sm != nil {
		n := child(n, "sums")
		switch {
		case !relName.MatchString(sm.Table) || sm.Table == it.Table:
			return errf(n, "%s: items: sums: table must be a schema-qualified staging table of its own, not %q", where, sm.Table)
		case sm.Count == "" || sm.Sum == "":
			return errf(n, "%s: items: sums: name both columns, e.g. {table: %s, count: quantity, sum: revenue}", where, sm.Table)
		case sm.Count == sm.Sum:
			return errf(n, "%s: items: sums: count and sum name the same column %q", where, sm.Count)
		}
		of, err := it.number(sm.Of)
		if err != nil {
			return errf(n, "%s: items: sums: of: %v", where, err)
		}
		sm.Of = of
	}
	return nil
}

// checkFields holds the item's fields to names that make columns, types
// that the loader reads, and a scale, values and pattern where they apply.
func (it *Items) checkFields(where string, n *yaml.Node, errf errorf) error {
	fn := child(n, "fields")
	if fn == nil {
		fn = n
	}
	if len(it.Fields) == 0 {
		return errf(fn, "%s: items: fields are required: each field of an item, in order, e.g. [product, {name: price, type: numeric, scale: 2}]", where)
	}
	if len(it.Fields) > MaxItemFields {
		return errf(fn, "%s: items: %d fields: an item has at most %d", where, len(it.Fields), MaxItemFields)
	}
	for i, f := range it.Fields {
		at := fn
		if k := item(fn, i); k != nil {
			at = k
		}
		what := fmt.Sprintf("%s: items: field %q", where, f.Name)
		switch {
		case !identifier.MatchString(f.Name):
			return errf(at, "%s: items: field %d: name must be a plain lower-case column name, not %q", where, i+1, f.Name)
		case it.Field(f.Name) != i:
			return errf(at, "%s declared twice", what)
		case f.Name == "item_no" || f.Name == "load_id" || f.Name == "source_line":
			return errf(at, "%s: the items table has a column of that name already", what)
		}
		if f.Type == "" {
			f.Type = Text
		}
		switch f.Type {
		case Text:
			if f.Scale != 0 {
				return errf(at, "%s: scale applies to numeric fields", what)
			}
		case Numeric, Integer:
			if f.Optional || len(f.Values) > 0 || f.Pattern != "" {
				return errf(at, "%s: optional, values and pattern apply to text fields", what)
			}
			if f.Type == Integer && f.Scale != 0 || f.Scale < 0 || f.Scale > MaxScale {
				return errf(at, "%s: scale must be between 0 and %d, for a numeric field", what, MaxScale)
			}
		default:
			return errf(at, "%s: type %q is not one of text, numeric, integer", what, f.Type)
		}
		if it.Column != "" && slices.ContainsFunc(f.Values, func(v string) bool { return strings.ContainsAny(v, "\t\n") }) {
			return errf(at, "%s: a value holds a tab or a line break, which part the items kept in their row", what)
		}
		f.Re = nil
		if f.Pattern != "" {
			re, err := regexp.Compile(f.Pattern)
			if err != nil {
				return errf(at, "%s: pattern %q: %v", what, f.Pattern, err)
			}
			f.Re = re
		}
	}
	return nil
}

// number returns the numeric or integer field named, or, with name empty,
// the item's only one.
func (it *Items) number(name string) (string, error) {
	var numbers []string
	for _, f := range it.Fields {
		if f.Type != Text {
			numbers = append(numbers, f.Name)
		}
	}
	switch {
	case name == "" && len(numbers) == 1:
		return numbers[0], nil
	case name == "":
		return "", fmt.Errorf("the item has %d numeric fields (%s): name the one summed", len(numbers), strings.Join(numbers, ", "))
	case !slices.Contains(numbers, name):
		return "", fmt.Errorf("%q is not a numeric or integer field of the item (%s)", name, strings.Join(numbers, ", "))
	}
	return name, nil
}

// checkItems checks what an items column says of the rest of the source:
// the columns it names (carry, its sums' by), the names of the columns it
// makes, and the totals declared sum_of it.
func (s *Source) checkItems(at func(string) *yaml.Node, cols *yaml.Node, seen map[string]bool, errf errorf) error {
	col := func(name string) *Column {
		for _, c := range s.Columns {
			if c.Name == name {
				return c
			}
		}
		return nil
	}
	for i, c := range s.Columns {
		if c.SumOf != "" {
			if err := s.checkSumOf(c, item(cols, i), col, errf); err != nil {
				return err
			}
		}
		if c.Type != List || c.Personal != "" {
			continue
		}
		in := at("columns")
		if n := item(cols, i); n != nil {
			in = child(n, "items")
		}
		where := fmt.Sprintf("source %s: column %s: items", s.Name, c.Name)
		for _, name := range []string{c.Items.Count, c.Items.Column} {
			if seen[name] {
				return errf(in, "%s: %q is a column of the contract already: name a new column", where, name)
			}
		}
		for _, name := range c.Items.Carry {
			if err := carried(col(name), name, where+": carry", in, errf); err != nil {
				return err
			}
			if c.Items.Field(name) >= 0 {
				return errf(in, "%s: carry names %q, a field of the item already", where, name)
			}
		}
		if sm := c.Items.Sums; sm != nil {
			if err := s.checkItemSums(c.Items, child(in, "sums"), where+": sums", col, errf); err != nil {
				return err
			}
		}
	}
	return nil
}

// carried holds a column an item row or its sums take from the row to one
// that reaches them: a column of the row, not personal, not a list, not
// the day (which they have already).
func carried(c *Column, name, where string, n *yaml.Node, errf errorf) error {
	switch {
	case c == nil:
		return errf(n, "%s names %q, which is neither a field of the item nor a column", where, name)
	case c.Personal != "":
		return errf(n, "%s names %q, which is personal data: it goes nowhere", where, name)
	case c.Type == List:
		return errf(n, "%s names %q, an items column", where, name)
	case c.Date != "":
		return errf(n, "%s names %q, whose day (%s) every item row has already", where, name, c.Date)
	}
	return nil
}

// checkItemSums fills in the sums' by when it is left out (the item's text
// fields, then the carried columns) and holds it to item fields and
// columns of the row, with new names for the columns the sums make.
func (s *Source) checkItemSums(it *Items, n *yaml.Node, where string, col func(string) *Column, errf errorf) error {
	sm := it.Sums
	if sm.By == nil {
		for _, f := range it.Fields {
			if f.Type == Text {
				sm.By = append(sm.By, f.Name)
			}
		}
		sm.By = append(sm.By, it.Carry...)
	}
	taken := []string{"load_id"}
	if d := s.DayColumn(); d != "" {
		taken = append(taken, d)
	}
	for _, name := range sm.By {
		if slices.Contains(taken, name) {
			return errf(n, "%s: by names %q twice, or a column the sums have already", where, name)
		}
		taken = append(taken, name)
		if it.Field(name) >= 0 {
			continue
		}
		if err := carried(col(name), name, where+": by", n, errf); err != nil {
			return err
		}
	}
	for _, name := range []string{sm.Count, sm.Sum} {
		if slices.Contains(taken, name) {
			return errf(n, "%s: %q is a column of %s already: name a new column", where, name, sm.Table)
		}
	}
	return nil
}

// checkSumOf holds a total declared sum_of an items column to a numeric
// column of the scale of the item field it totals: sum_of: basket.price,
// or sum_of: basket when the item has one numeric field.
func (s *Source) checkSumOf(c *Column, cn *yaml.Node, col func(string) *Column, errf errorf) error {
	where := fmt.Sprintf("source %s: column %s: sum_of", s.Name, c.Name)
	name, field, _ := strings.Cut(c.SumOf, ".")
	o := col(name)
	if c.Type != Numeric && c.Type != Integer {
		return errf(cn, "%s checks a numeric or integer column", where)
	}
	if o == nil || o.Type != List || o.Personal != "" {
		return errf(cn, "%s names %q, which is not an items column", where, name)
	}
	field, err := o.Items.number(field)
	if err != nil {
		return errf(cn, "%s: %v", where, err)
	}
	f := o.Items.Fields[o.Items.Field(field)]
	if f.Scale != c.Scale {
		return errf(cn, "%s: %s.%s has %d decimals, %s %d: they must agree", where, name, field, f.Scale, c.Name, c.Scale)
	}
	c.SumOf, c.SumOfField = name, field
	return nil
}

// Token is a piece of an item format: a literal or a {field}.
type Token struct {
	Literal string
	Field   string
}

// ParseTemplate splits an item template, "{size} {product} - {price}",
// into tokens. Two fields
// must be parted by a literal, or the split would be ambiguous.
func ParseTemplate(format string) ([]Token, error) {
	var toks []Token
	rest := format
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			toks = append(toks, Token{Literal: rest})
			break
		}
		if i > 0 {
			toks = append(toks, Token{Literal: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed {")
		}
		name := rest[i+1 : i+j]
		if len(toks) > 0 && toks[len(toks)-1].Field != "" {
			return nil, fmt.Errorf("{%s} follows {%s} with nothing between them", name, toks[len(toks)-1].Field)
		}
		toks = append(toks, Token{Field: name})
		rest = rest[i+j+1:]
	}
	return toks, nil
}

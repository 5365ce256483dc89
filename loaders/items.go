package loaders

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/percolate/percolate/internal/config"
)

// item is one item of a list field: its text fields' values in str ("" for
// an optional one left empty: NULL), its numbers in num (numerics scaled
// by their decimals), each at its field's index: arrays of config's bound,
// so that a row's items take no memory of their own.
type item struct {
	str [config.MaxItemFields]string
	num [config.MaxItemFields]int64
}

// itemParser explodes a nested list field into items, in one of two
// declared shapes: a separator between items each read by a format
// ("{size} {product} - {price}"), or a flat list of fields taken a tuple at
// a time ("size,product,price,size,product,price").
//
// Like its contract, an itemParser is used by one goroutine at a time.
type itemParser struct {
	sep      string
	template []config.Token
	// at holds, by token of the template, the index of its field (-1 for
	// a literal).
	at     []int
	fields []*config.ItemField
	text   []bool // by field: text, not a number
	digits []int  // by field: a number's digits before the point, at most
	// valueThen holds, at a token of a field with values followed by a
	// literal, each value with that literal: what an item that has that
	// value there starts with.
	valueThen [][]string
	// matched holds, by field, values that matched its pattern: an item
	// list names the same few values over and over, and a regular
	// expression costs more than a map.
	matched []map[string]struct{}
	// inline is set when the items are kept in a text column of their
	// row (config.Items.Column), whose tabs and line breaks part them.
	inline bool
}

// inlineDigits bounds the digits of a number kept in an items column, as
// numeric(10, scale): what a view reading the column may cast it to.
const inlineDigits = 10

// matchedMax bounds the values matched remembers per field.
const matchedMax = 4096

func newItemParser(it *config.Items) (*itemParser, error) {
	p := &itemParser{sep: it.Separator, fields: it.Fields, inline: it.Column != "",
		text: make([]bool, len(it.Fields)), digits: make([]int, len(it.Fields)), matched: make([]map[string]struct{}, len(it.Fields))}
	for j, f := range it.Fields {
		p.text[j] = f.Type == config.Text
		p.digits[j] = maxDigits - f.Scale
		if p.inline {
			p.digits[j] = max(0, inlineDigits-f.Scale)
		}
	}
	if it.Template == "" {
		return p, nil
	}
	toks, err := config.ParseTemplate(it.Template)
	if err != nil {
		return nil, err
	}
	p.template = toks
	p.at = make([]int, len(toks))
	p.valueThen = make([][]string, len(toks))
	for i, t := range toks {
		p.at[i] = -1
		if t.Field == "" {
			continue
		}
		j := it.Field(t.Field)
		p.at[i] = j
		if len(p.fields[j].Values) == 0 || i+1 >= len(toks) || toks[i+1].Literal == "" {
			continue
		}
		for _, v := range p.fields[j].Values {
			p.valueThen[i] = append(p.valueThen[i], v+toks[i+1].Literal)
		}
	}
	return p, nil
}

// parse appends the items of s to dst. Its errors name the item and the
// rule, never the text: it may be another column's personal data.
func (p *itemParser) parse(s string, dst []item) ([]item, error) {
	if strings.TrimSpace(s) == "" {
		return dst, fmt.Errorf("no items")
	}
	if p.template != nil {
		for n := 1; s != ""; n++ {
			part, rest, _ := strings.Cut(s, p.sep)
			s = rest
			dst = append(dst, item{})
			if err := p.match(&dst[len(dst)-1], strings.TrimSpace(part)); err != nil {
				return dst, fmt.Errorf("item %d: %v", n, err)
			}
		}
		return dst, nil
	}
	nf := len(p.fields)
	parts := strings.Split(s, p.sep)
	if len(parts)%nf != 0 {
		return dst, fmt.Errorf("%d parts is not a whole number of %d-field items", len(parts), nf)
	}
	for i := 0; i < len(parts); i += nf {
		dst = append(dst, item{})
		it := &dst[len(dst)-1]
		for j := range p.fields {
			if err := p.set(it, j, strings.TrimSpace(parts[i+j])); err != nil {
				return dst, fmt.Errorf("item %d: %v", i/nf+1, err)
			}
		}
	}
	return dst, nil
}

// match reads one item by the format. A field runs to the last occurrence
// of the literal after it, so a text may itself hold " - " ("Flavoured iced
// latte - Hazelnut - 2.75"); a field with values that is followed by a
// literal is one of them, taken when the item starts with it: an optional
// one may be absent, and the literal after it with it.
func (p *itemParser) match(it *item, s string) error {
	toks := p.template
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.Literal != "" {
			rest, ok := strings.CutPrefix(s, t.Literal)
			if !ok {
				return fmt.Errorf("expected %q", t.Literal)
			}
			s = rest
			continue
		}
		j := p.at[i]
		if then := p.valueThen[i]; then != nil {
			found := false
			for k, prefix := range then {
				if rest, ok := strings.CutPrefix(s, prefix); ok {
					it.str[j], s, found = p.fields[j].Values[k], rest, true
					break
				}
			}
			if !found && !p.fields[j].Optional {
				return fmt.Errorf("%s is not one of %s", t.Field, strings.Join(p.fields[j].Values, ", "))
			}
			i++ // the literal after the value goes with it, or with its absence
			continue
		}
		var f string
		if i+1 >= len(toks) {
			f, s = s, ""
		} else {
			next := toks[i+1].Literal
			k := strings.LastIndex(s, next)
			if k < 0 {
				return fmt.Errorf("expected %q after {%s}", next, t.Field)
			}
			f, s = s[:k], s[k:]
		}
		if err := p.set(it, j, strings.TrimSpace(f)); err != nil {
			return err
		}
	}
	if s != "" {
		return fmt.Errorf("unexpected text at the end")
	}
	return nil
}

// set reads v as field j of the item.
func (p *itemParser) set(it *item, j int, v string) error {
	fd := p.fields[j]
	if !p.text[j] {
		var n int64
		var err error
		if fd.Type == config.Integer {
			n, err = parseInteger(v)
		} else {
			n, err = parseDecimal(v, fd.Scale, p.digits[j])
		}
		if err != nil {
			return fmt.Errorf("%s %v", fd.Name, err)
		}
		it.num[j] = n
		return nil
	}
	switch {
	case v == "" && fd.Optional:
		it.str[j] = ""
		return nil
	case v == "":
		return fmt.Errorf("no %s", fd.Name)
	case p.inline && (strings.IndexByte(v, '\t') >= 0 || strings.IndexByte(v, '\n') >= 0):
		return fmt.Errorf("%s has a tab or a line break, which part the items kept in their row", fd.Name)
	case len(fd.Values) > 0 && !slices.Contains(fd.Values, v):
		return fmt.Errorf("%s is not one of %s", fd.Name, strings.Join(fd.Values, ", "))
	}
	it.str[j] = v
	if fd.Re != nil {
		return p.matchPattern(j, fd.Re, v)
	}
	return nil
}

// matchPattern holds v, a value of field j, to its pattern re.
func (p *itemParser) matchPattern(j int, re *regexp.Regexp, v string) error {
	seen := p.matched[j]
	if _, ok := seen[v]; ok {
		return nil
	}
	if !re.MatchString(v) {
		return fmt.Errorf("%s does not match the pattern %s", p.fields[j].Name, p.fields[j].Pattern)
	}
	if seen == nil {
		seen = map[string]struct{}{}
		p.matched[j] = seen
	}
	if len(seen) < matchedMax {
		seen[strings.Clone(v)] = struct{}{} // not the line's memory
	}
	return nil
}

// appendField appends field j of it as an items column holds it, and as
// its canonical form: a text as it is (empty when NULL), a number in
// decimal.
func (p *itemParser) appendField(b []byte, it *item, j int) []byte {
	switch {
	case p.text[j]:
		return append(b, it.str[j]...)
	case p.fields[j].Type == config.Integer:
		return strconv.AppendInt(b, it.num[j], 10)
	}
	return appendDecimal(b, it.num[j], p.fields[j].Scale)
}

// appendText appends items as an items column holds them: an item a line,
// its fields in order parted by tabs. Text fields hold neither (set
// refuses them).
func (p *itemParser) appendText(b []byte, items []item) []byte {
	for n := range items {
		if n > 0 {
			b = append(b, '\n')
		}
		for j, text := range p.text {
			if j > 0 {
				b = append(b, '\t')
			}
			if text {
				b = append(b, items[n].str[j]...)
			} else {
				b = p.appendField(b, &items[n], j)
			}
		}
	}
	return b
}

// appendKey appends items in their canonical form to a row key: each
// field's text or number, fields parted by 0x1f, each item closed by 0x1e.
func (p *itemParser) appendKey(b []byte, items []item) []byte {
	for n := range items {
		it := &items[n]
		for j, text := range p.text {
			if j > 0 {
				b = append(b, 0x1f)
			}
			if text {
				b = append(b, it.str[j]...)
			} else {
				b = strconv.AppendInt(b, it.num[j], 10)
			}
		}
		b = append(b, 0x1e)
	}
	return b
}

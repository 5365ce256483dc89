package loaders

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/percolate/percolate/internal/config"
)

// itemParser explodes a nested list field (the basket) into items, in one
// of two declared shapes: a separator between items each read by a format
// ("{size} {product} - {price}"), or a flat list of fields taken a tuple at
// a time ("size,product,price,size,product,price").
//
// Like its contract, an itemParser is used by one goroutine at a time.
type itemParser struct {
	sep      string
	template []config.Token
	fields   []string
	sizes    []string
	scale    int
	digits   int // a price's digits before the point, at most
	re       map[string]*regexp.Regexp
	patterns map[string]string
	// sizeThen holds, at a {size} token of the template, each size with
	// the literal after it: what an item that has that size starts with.
	sizeThen [][]string
	// matched holds values of a field with a pattern that matched it: a
	// basket names the same few products over and over, and a regular
	// expression costs more than a map.
	matched map[string]map[string]struct{}
	// inline is set when the items are kept in a text column of their
	// row (config.Items.Column), whose tabs and line breaks part them.
	inline bool
}

// inlineDigits bounds the digits of a price kept in an items column, as
// numeric(10, scale): what a view reading the column casts it to
// (models/core/order_items.sql).
const inlineDigits = 10

// matchedMax bounds the values matched remembers per field.
const matchedMax = 4096

func newItemParser(it *config.Items) (*itemParser, error) {
	p := &itemParser{sep: it.Separator, fields: it.Fields, sizes: it.Sizes, scale: it.Scale,
		digits: maxDigits - it.Scale, re: it.Re, patterns: it.Pattern, matched: map[string]map[string]struct{}{},
		inline: it.Column != ""}
	if p.inline {
		p.digits = max(0, inlineDigits-it.Scale)
	}
	if it.Template != "" {
		toks, err := config.ParseTemplate(it.Template)
		if err != nil {
			return nil, err
		}
		p.template = toks
		p.sizeThen = make([][]string, len(toks))
		for i, t := range toks {
			if t.Field != "size" || i+1 >= len(toks) || toks[i+1].Literal == "" {
				continue
			}
			for _, size := range p.sizes {
				p.sizeThen[i] = append(p.sizeThen[i], size+toks[i+1].Literal)
			}
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
			it, err := p.match(strings.TrimSpace(part))
			if err != nil {
				return dst, fmt.Errorf("item %d: %v", n, err)
			}
			dst = append(dst, it)
		}
		return dst, nil
	}
	parts := strings.Split(s, p.sep)
	if len(parts)%len(p.fields) != 0 {
		return dst, fmt.Errorf("%d parts is not a whole number of %d-field items", len(parts), len(p.fields))
	}
	for i := 0; i < len(parts); i += len(p.fields) {
		var it item
		for j, name := range p.fields {
			if err := p.set(&it, name, strings.TrimSpace(parts[i+j])); err != nil {
				return dst, fmt.Errorf("item %d: %v", i/len(p.fields)+1, err)
			}
		}
		if it.product == "" {
			return dst, fmt.Errorf("item %d: no product", i/len(p.fields)+1)
		}
		dst = append(dst, it)
	}
	return dst, nil
}

// match reads one item by the format. A field runs to the last occurrence of
// the literal after it, so a product may itself hold " - "
// ("Flavoured iced latte - Hazelnut - 2.75"); a size is optional and is
// taken only when the item starts with one of the declared sizes.
func (p *itemParser) match(s string) (item, error) {
	var it item
	toks := p.template
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.Literal != "" {
			rest, ok := strings.CutPrefix(s, t.Literal)
			if !ok {
				return it, fmt.Errorf("expected %q", t.Literal)
			}
			s = rest
			continue
		}
		var next string
		if i+1 < len(toks) {
			next = toks[i+1].Literal
		}
		if t.Field == "size" && len(p.sizes) > 0 {
			for k, prefix := range p.sizeThen[i] {
				if rest, ok := strings.CutPrefix(s, prefix); ok {
					it.size, s = p.sizes[k], rest
					break
				}
			}
			i++ // the literal after the size goes with it, or with its absence
			continue
		}
		var f string
		if next == "" {
			f, s = s, ""
		} else {
			j := strings.LastIndex(s, next)
			if j < 0 {
				return it, fmt.Errorf("expected %q after {%s}", next, t.Field)
			}
			f, s = s[:j], s[j:]
		}
		if err := p.set(&it, t.Field, strings.TrimSpace(f)); err != nil {
			return it, err
		}
	}
	if s != "" {
		return it, fmt.Errorf("unexpected text at the end")
	}
	if it.product == "" {
		return it, fmt.Errorf("no product")
	}
	return it, nil
}

func (p *itemParser) set(it *item, field, v string) error {
	if p.inline && field != "price" && (strings.IndexByte(v, '\t') >= 0 || strings.IndexByte(v, '\n') >= 0) {
		return fmt.Errorf("%s has a tab or a line break, which part the items kept in their row", field)
	}
	switch field {
	case "size":
		if v != "" && len(p.sizes) > 0 && !slices.Contains(p.sizes, v) {
			return fmt.Errorf("size is not one of %s", strings.Join(p.sizes, ", "))
		}
		it.size = v
	case "product":
		it.product = v
	case "price":
		n, err := parseDecimal(v, p.scale, p.digits)
		if err != nil {
			return fmt.Errorf("price %v", err)
		}
		it.price = n
		return nil
	}
	if re := p.re[field]; re != nil && v != "" {
		seen := p.matched[field]
		if _, ok := seen[v]; ok {
			return nil
		}
		if !re.MatchString(v) {
			return fmt.Errorf("%s does not match the pattern %s", field, p.patterns[field])
		}
		if seen == nil {
			seen = map[string]struct{}{}
			p.matched[field] = seen
		}
		if len(seen) < matchedMax {
			seen[strings.Clone(v)] = struct{}{} // not the line's memory
		}
	}
	return nil
}

// appendItemText appends items as an items column holds them: an item a
// line, its size (empty when it has none), product and price parted by
// tabs. Sizes and products hold neither (set refuses them).
func appendItemText(b []byte, items []item, scale int) []byte {
	for n, it := range items {
		if n > 0 {
			b = append(b, '\n')
		}
		b = append(b, it.size...)
		b = append(b, '\t')
		b = append(b, it.product...)
		b = append(b, '\t')
		b = appendDecimal(b, it.price, scale)
	}
	return b
}

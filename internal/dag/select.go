package dag

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrSelector is wrapped by errors in --select and --exclude.
var ErrSelector = errors.New("selector")

// Select returns the models that the selectors pick, minus those the
// exclude selectors pick, in build order. A selector is a union of terms
// separated by spaces or commas:
//
//	name, schema.name   the model
//	name+               the model and everything downstream of it
//	+name               the model and everything upstream of it
//	tag:x               models tagged x
//	path:models/marts   models under that folder
//	state:modified      models whose version differs from the last built one
//
// No selector selects every model. modified answers state:modified; it
// may be nil when no selector uses it.
func (g *Graph) Select(include, exclude []string, modified func(*Model) bool) ([]*Model, error) {
	picked := map[string]bool{}
	if len(terms(include)) == 0 {
		for _, m := range g.Models {
			picked[m.Name] = true
		}
	} else if err := g.pick(include, modified, picked); err != nil {
		return nil, err
	}
	dropped := map[string]bool{}
	if err := g.pick(exclude, modified, dropped); err != nil {
		return nil, err
	}
	var out []*Model
	for _, m := range g.Models {
		if picked[m.Name] && !dropped[m.Name] {
			out = append(out, m)
		}
	}
	return out, nil
}

func terms(sel []string) []string {
	var out []string
	for _, s := range sel {
		out = append(out, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	return out
}

func (g *Graph) pick(sel []string, modified func(*Model) bool, into map[string]bool) error {
	for _, t := range terms(sel) {
		up, down := strings.HasPrefix(t, "+"), strings.HasSuffix(t, "+")
		base := map[string]bool{}
		switch term := strings.Trim(t, "+"); {
		case strings.HasPrefix(term, "tag:"):
			for _, m := range g.Models {
				if slices.Contains(m.Config.Tags, term[4:]) {
					base[m.Name] = true
				}
			}
		case strings.HasPrefix(term, "path:"):
			p := strings.TrimSuffix(term[5:], "/")
			for _, m := range g.Models {
				if m.Path == p || strings.HasPrefix(m.Path, p+"/") {
					base[m.Name] = true
				}
			}
		case term == "state:modified":
			if modified == nil {
				return fmt.Errorf("%w: state:modified needs the database's record of built versions", ErrSelector)
			}
			for _, m := range g.Models {
				if modified(m) {
					base[m.Name] = true
				}
			}
		case strings.HasPrefix(term, "state:"):
			return fmt.Errorf("%w %q: the only state is state:modified", ErrSelector, t)
		default:
			m := g.find(term)
			if m == nil {
				return fmt.Errorf("%w %q: %s", ErrSelector, t, g.noModel(term))
			}
			base[m.Name] = true
		}
		for name := range base {
			into[name] = true
			if up {
				g.walk(g.byName[name], func(m *Model) []string { return m.Parents }, into)
			}
			if down {
				g.walk(g.byName[name], g.Children, into)
			}
		}
	}
	return nil
}

// find looks a model up by schema.name, or by name alone when unambiguous.
func (g *Graph) find(name string) *Model {
	if m := g.byName[name]; m != nil {
		return m
	}
	var found *Model
	for _, m := range g.Models {
		if m.Rel == name {
			if found != nil {
				return nil
			}
			found = m
		}
	}
	return found
}

// noModel says why no model answers name: two share it, or none has it,
// with the nearest names.
func (g *Graph) noModel(name string) string {
	var same, near []string
	best := 2 // more edits than this is no longer a typo
	for _, m := range g.Models {
		if m.Rel == name {
			same = append(same, m.Name)
			continue
		}
		d := min(distance(name, m.Name), distance(name, m.Rel))
		switch {
		case d > best:
		case d < best || len(near) == 0:
			best, near = d, []string{m.Name}
		case d == best:
			near = append(near, m.Name)
		}
	}
	switch {
	case len(same) > 1:
		return fmt.Sprintf("%s is %s: write the schema", name, strings.Join(same, " and "))
	case len(near) > 0:
		return fmt.Sprintf("no model %s (did you mean %s?)", name, strings.Join(near, " or "))
	}
	return fmt.Sprintf("no model %s (see percolate models list)", name)
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			diag, row[j] = row[j], min(row[j]+1, row[j-1]+1, diag+cost)
		}
	}
	return row[len(b)]
}

func (g *Graph) walk(m *Model, next func(*Model) []string, into map[string]bool) {
	for _, n := range next(m) {
		if !into[n] {
			into[n] = true
			g.walk(g.byName[n], next, into)
		}
	}
}

// Ancestors lists every model m reads, directly or through others, sorted.
func (g *Graph) Ancestors(m *Model) []string {
	seen := map[string]bool{}
	g.walk(m, func(m *Model) []string { return m.Parents }, seen)
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Children lists the models that read m.
func (g *Graph) Children(m *Model) []string {
	var out []string
	for _, c := range g.Models {
		if slices.Contains(c.Parents, m.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

package dag

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// Graph is a project's models in dependency order.
type Graph struct {
	// Models in an order where every model comes after its parents; ties
	// are broken by name so the order is the same on every machine.
	Models []*Model
	byName map[string]*Model
	// functions, seeds and vars are what the models use besides each other
	// and the sources (functions.go).
	functions   map[string]*Function
	seeds, vars map[string]string
}

// Load discovers the models under root in fsys and resolves their
// dependencies. sources are relations that exist outside the models (the
// staging tables); schemas in external may be read freely (the ledger).
func Load(fsys fs.FS, root string, sources []string, external []string) (*Graph, error) {
	models, err := discover(fsys, root)
	if err != nil {
		return nil, err
	}
	return New(models, sources, external)
}

// New resolves the dependencies of models.
func New(models []*Model, sources []string, external []string) (*Graph, error) {
	g := &Graph{byName: map[string]*Model{}}
	for _, m := range models {
		if whose := reservedSchema(m.Schema, sources, external); whose != "" {
			return nil, &Error{Path: m.Path, Msg: fmt.Sprintf("schema %s is %s: a model there would replace their tables; put the model under a schema of its own (models/<schema>/%s.sql)", m.Schema, whose, m.Rel)}
		}
		if other, ok := g.byName[m.Name]; ok {
			return nil, &Error{Path: m.Path, Msg: fmt.Sprintf("%s is also built by %s", m.Name, other.Path)}
		}
		g.byName[m.Name] = m
	}
	for _, m := range models {
		if u := m.unqualified; u != nil {
			return nil, &Error{Path: m.Path, Line: u.line, Msg: fmt.Sprintf("relation %q has no schema: write it schema-qualified%s, so the dependency is unambiguous", u.name, qualified(u.name, g, sources))}
		}
	}
	for _, m := range models {
		m.Parents, m.Sources = nil, nil
		for _, ref := range m.Refs {
			schema, _, _ := strings.Cut(ref, ".")
			switch {
			case ref == m.Name:
				return nil, &Error{Path: m.Path, Line: m.LineOf(ref), Msg: fmt.Sprintf("%s reads itself", m.Name)}
			case g.byName[ref] != nil:
				m.Parents = append(m.Parents, ref)
			case slices.Contains(sources, ref) || slices.Contains(external, schema):
				m.Sources = append(m.Sources, ref)
			default:
				return nil, &Error{Path: m.Path, Line: m.LineOf(ref), Msg: fmt.Sprintf("relation %s is neither a model nor a source table%s", ref, suggest(ref, g, sources))}
			}
		}
	}
	for _, m := range models {
		for _, c := range m.Config.Checks {
			for _, ref := range c.refs {
				schema, _, _ := strings.Cut(ref, ".")
				if g.byName[ref] == nil && !slices.Contains(sources, ref) && !slices.Contains(external, schema) {
					return nil, &Error{Path: m.Path, Line: c.Line, Msg: fmt.Sprintf("check %s: relation %s is neither a model nor a source table", c.Name, ref)}
				}
			}
		}
	}
	order, err := g.sort(models)
	if err != nil {
		return nil, err
	}
	g.Models = order
	for _, m := range g.Models {
		m.Version = version(m, g)
	}
	return g, nil
}

// sort orders models parents-first (Kahn's algorithm, smallest name first).
func (g *Graph) sort(models []*Model) ([]*Model, error) {
	indeg := map[string]int{}
	children := map[string][]string{}
	for _, m := range models {
		indeg[m.Name] += 0
		for _, p := range m.Parents {
			indeg[m.Name]++
			children[p] = append(children[p], m.Name)
		}
	}
	var ready []string
	for n, d := range indeg {
		if d == 0 {
			ready = append(ready, n)
		}
	}
	var order []*Model
	for len(ready) > 0 {
		slices.Sort(ready)
		n := ready[0]
		ready = ready[1:]
		order = append(order, g.byName[n])
		for _, c := range children[n] {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(order) < len(models) {
		return nil, g.cycle(indeg)
	}
	return order, nil
}

// cycle names one cycle among the models left unsorted.
func (g *Graph) cycle(indeg map[string]int) error {
	var start string
	for n, d := range indeg {
		if d > 0 && (start == "" || n < start) {
			start = n
		}
	}
	path := []string{start}
	seen := map[string]int{start: 0}
	cur := start
	for {
		var next string
		for _, p := range g.byName[cur].Parents {
			if indeg[p] > 0 {
				next = p
				break
			}
		}
		if i, ok := seen[next]; ok {
			loop := append(path[i:], next)
			m := g.byName[next]
			return &Error{Path: m.Path, Msg: "dependency cycle: " + strings.Join(loop, " reads ")}
		}
		seen[next] = len(path)
		path = append(path, next)
		cur = next
	}
}

// Model returns the named model, or nil.
func (g *Graph) Model(name string) *Model { return g.byName[name] }

func version(m *Model, g *Graph) string {
	desc := fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s\x00%v", m.normalized, m.Config.Materialized,
		strings.Join(m.Config.Tags, ","), m.Config.TimeColumn, m.Config.Grain, m.Config.Indexes)
	if d := m.Config.Distribution(); d != "" {
		desc = fmt.Appendf(desc, "\x00distributed %s", d) // a distributed table is another table
	}
	if m.Config.Key != nil {
		desc = fmt.Appendf(desc, "\x00key %v", m.Config.Key) // another index, another merge
	}
	desc = m.Config.appendSnapshot(desc)
	own := sha256.Sum256(desc)
	m.OwnVersion = hex.EncodeToString(own[:8])
	h := sha256.New()
	h.Write(own[:])
	for _, p := range m.Parents {
		fmt.Fprintf(h, "%s=%s\x00", p, g.byName[p].Version)
	}
	g.writeUses(h, m)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// named lists the relations called rel that exist, models or sources,
// whatever their schema.
func named(rel string, g *Graph, sources []string) []string {
	var found []string
	for _, k := range append(slices.Sorted(maps.Keys(g.byName)), sources...) {
		if _, r, _ := strings.Cut(k, "."); r == rel && !slices.Contains(found, k) {
			found = append(found, k)
		}
	}
	return found
}

// qualified names the relations called rel that exist, for a relation
// read without its schema.
func qualified(rel string, g *Graph, sources []string) string {
	switch found := named(rel, g, sources); len(found) {
	case 0:
		return fmt.Sprintf(" (no model or source table is named %s: see percolate models list)", rel)
	case 1:
		return " as " + found[0]
	default:
		return " as one of " + strings.Join(found, ", ")
	}
}

// suggest names a relation of ref's name in another schema, if one exists.
func suggest(ref string, g *Graph, sources []string) string {
	_, rel, _ := strings.Cut(ref, ".")
	if found := named(rel, g, sources); len(found) > 0 {
		return fmt.Sprintf(" (did you mean %s?)", found[0])
	}
	return ""
}

package dag

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteGraph writes the graph of models and the sources they read as
// Graphviz dot, a Mermaid flowchart or JSON.
func (g *Graph) WriteGraph(w io.Writer, format string) error {
	switch format {
	case "dot":
		fmt.Fprintln(w, "digraph percolate {\n  rankdir=LR;\n  node [shape=box];")
		for _, m := range g.Models {
			fmt.Fprintf(w, "  %q [label=%q];\n", m.Name, m.Name+"\n"+m.Config.Materialized)
			for _, s := range m.Sources {
				fmt.Fprintf(w, "  %q [shape=cylinder];\n  %q -> %q;\n", s, s, m.Name)
			}
			for _, p := range m.Parents {
				fmt.Fprintf(w, "  %q -> %q;\n", p, m.Name)
			}
		}
		fmt.Fprintln(w, "}")
	case "mermaid":
		id := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
		fmt.Fprintln(w, "flowchart LR")
		seen := map[string]bool{}
		for _, m := range g.Models {
			fmt.Fprintf(w, "  %s[\"%s (%s)\"]\n", id(m.Name), m.Name, m.Config.Materialized)
			for _, s := range m.Sources {
				if !seen[s] {
					seen[s] = true
					fmt.Fprintf(w, "  %s[(\"%s\")]\n", id(s), s)
				}
				fmt.Fprintf(w, "  %s --> %s\n", id(s), id(m.Name))
			}
			for _, p := range m.Parents {
				fmt.Fprintf(w, "  %s --> %s\n", id(p), id(m.Name))
			}
		}
	case "json":
		type node struct {
			Name         string   `json:"name"`
			Path         string   `json:"path"`
			Materialized string   `json:"materialized"`
			Version      string   `json:"version"`
			Tags         []string `json:"tags,omitempty"`
			Parents      []string `json:"parents"`
			Sources      []string `json:"sources"`
		}
		var nodes []node
		for _, m := range g.Models {
			nodes = append(nodes, node{m.Name, m.Path, m.Config.Materialized, m.Version, m.Config.Tags, nonNil(m.Parents), nonNil(m.Sources)})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"models": nodes})
	default:
		return fmt.Errorf("graph format %q: want dot, mermaid or json", format)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package docsite

import (
	"fmt"
	"strings"
	"testing"
)

func TestLayout(t *testing.T) {
	cases := []struct {
		name   string
		models map[string][]string // model → what it reads
		layers map[string]int
	}{
		{"chain", map[string][]string{"a.b": {"src.t"}, "a.c": {"a.b"}, "a.d": {"a.c"}},
			map[string]int{"src.t": 0, "a.b": 1, "a.c": 2, "a.d": 3}},
		{"diamond, longest path wins", map[string][]string{"a.b": {"src.t"}, "a.c": {"a.b"}, "a.d": {"a.b", "a.c", "src.u"}},
			map[string]int{"src.t": 0, "src.u": 0, "a.b": 1, "a.c": 2, "a.d": 3}},
		{"no inputs", map[string][]string{"a.b": nil}, map[string]int{"a.b": 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cat := &Catalog{}
			for name, up := range c.models {
				cat.Models = append(cat.Models, &Model{Name: name, Upstream: up})
			}
			g := layout(cat)
			at := map[string]*node{}
			for _, n := range g.Nodes {
				at[n.Name] = n
			}
			if len(at) != len(c.layers) {
				t.Errorf("got %d nodes, want %d", len(at), len(c.layers))
			}
			for name, want := range c.layers {
				if n := at[name]; n == nil || n.Layer != want {
					t.Errorf("%s: got %+v, want layer %d", name, n, want)
				}
			}
			for _, e := range g.Edges {
				if at[e.From].X >= at[e.To].X || e.Path == "" {
					t.Errorf("edge %s → %s does not run left to right: x %d, %d", e.From, e.To, at[e.From].X, at[e.To].X)
				}
			}
		})
	}
}

// TestLayoutLarge holds a deep graph's first view to a size that can be
// read, while the graph keeps its whole size for Fit.
func TestLayoutLarge(t *testing.T) {
	cat := &Catalog{}
	for i := range 1000 {
		m := &Model{Name: fmt.Sprintf("a.m%04d", i), Upstream: []string{"src.t"}}
		if i > 0 {
			m.Upstream = []string{fmt.Sprintf("a.m%04d", i-1)}
		}
		cat.Models = append(cat.Models, m)
	}
	g := layout(cat)
	if g.ViewW > maxViewW || g.ViewH > maxViewH || g.Width < 1000*nodeW {
		t.Errorf("got a view of %dx%d on a graph of %dx%d, want at most %dx%d on the whole", g.ViewW, g.ViewH, g.Width, g.Height, maxViewW, maxViewH)
	}
}

// TestRenderEscapes holds a project's text to being shown, never run:
// a description or a column name is escaped in the pages and in the
// lineage page's data.
func TestRenderEscapes(t *testing.T) {
	bad := `</script><script>alert(1)</script>`
	cat := &Catalog{Title: "t", Models: []*Model{{Name: "a.b", Description: bad, Columns: []*Column{{Name: "c", From: []string{bad}}}}}}
	site, err := Render(cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"models/a.b.html", "lineage.html", "index.html"} {
		if got := string(site.Files[page]); got == "" || strings.Contains(got, "<script>alert") {
			t.Errorf("%s: the text ran loose or the page is missing", page)
		}
	}
	if site.Pages() != 5 {
		t.Errorf("got %d pages, want the index, lineage, dashboards, runs and the model's", site.Pages())
	}
}

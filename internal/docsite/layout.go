package docsite

import (
	"cmp"
	"fmt"
	"slices"
)

// Sizes of the lineage graph, in SVG units.
const (
	nodeW   = 220
	nodeH   = 28
	colGap  = 90 // between a layer's right edge and the next one's left
	rowGap  = 14
	marginX = 20
	marginY = 20
)

// node is a relation of the lineage graph, placed.
type node struct {
	Name  string
	Model bool // else a relation the models read: a source table
	Layer int
	X, Y  int
	Label string // the name, shortened to fit its box
}

// edge joins the right of From to the left of To.
type edge struct {
	From, To string
	Path     string // an SVG path
}

// graph is the model-level lineage laid out in layers: a relation's layer
// is one more than the deepest it reads, so edges run left to right.
type graph struct {
	Nodes         []*node
	Edges         []*edge
	Width, Height int
	// ViewW and ViewH are what the page shows at first: all of a small
	// graph, the top left of a large one at a size that can be read (Fit
	// shows the whole).
	ViewW, ViewH int
}

// The most of a graph shown at first.
const (
	maxViewW = 1600
	maxViewH = 900
)

// layout places the models of c and the relations they read.
func layout(c *Catalog) *graph {
	g := &graph{}
	byName := map[string]*node{}
	for _, m := range c.Models {
		byName[m.Name] = &node{Name: m.Name, Model: true, Layer: -1}
	}
	for _, m := range c.Models {
		for _, u := range m.Upstream {
			if byName[u] == nil {
				byName[u] = &node{Name: u}
			}
		}
	}
	models := map[string]*Model{}
	for _, m := range c.Models {
		models[m.Name] = m
	}
	// Longest path from the sources, memoised; a cycle (which the model
	// graph refuses) is cut rather than followed forever.
	var depth func(n *node, seen map[string]bool) int
	depth = func(n *node, seen map[string]bool) int {
		if !n.Model || n.Layer >= 0 {
			return max(n.Layer, 0)
		}
		if seen[n.Name] {
			return 0
		}
		seen[n.Name] = true
		d := 0
		for _, u := range models[n.Name].Upstream {
			d = max(d, depth(byName[u], seen)+1)
		}
		n.Layer = d
		return d
	}
	for _, n := range byName {
		depth(n, map[string]bool{})
		g.Nodes = append(g.Nodes, n)
	}
	slices.SortFunc(g.Nodes, func(a, b *node) int { return cmp.Compare(a.Name, b.Name) })
	for _, m := range c.Models {
		for _, u := range m.Upstream {
			g.Edges = append(g.Edges, &edge{From: u, To: m.Name})
		}
	}
	g.place(byName)
	return g
}

// place places each layer's nodes, after the mean position of what they
// read (so that edges cross less), and draws the edges.
func (g *graph) place(byName map[string]*node) {
	var layers [][]*node
	for _, n := range g.Nodes {
		for len(layers) <= n.Layer {
			layers = append(layers, nil)
		}
		layers[n.Layer] = append(layers[n.Layer], n)
	}
	parents := map[string][]string{}
	for _, e := range g.Edges {
		parents[e.To] = append(parents[e.To], e.From)
	}
	rank := map[string]float64{}
	for li, layer := range layers {
		if li > 0 {
			mean := map[string]float64{}
			for _, n := range layer {
				sum := 0.0
				for _, p := range parents[n.Name] {
					sum += rank[p]
				}
				mean[n.Name] = sum / float64(max(len(parents[n.Name]), 1))
			}
			slices.SortStableFunc(layer, func(a, b *node) int { return cmp.Compare(mean[a.Name], mean[b.Name]) })
		}
		for i, n := range layer {
			rank[n.Name] = float64(i)
			n.X = marginX + li*(nodeW+colGap)
			n.Y = marginY + i*(nodeH+rowGap)
			n.Label = shorten(n.Name, 30)
			g.Height = max(g.Height, n.Y+nodeH+marginY)
		}
		g.Width = max(g.Width, marginX+(li+1)*(nodeW+colGap)-colGap+marginX)
	}
	g.ViewW, g.ViewH = min(g.Width, maxViewW), min(g.Height, maxViewH)
	for _, e := range g.Edges {
		a, b := byName[e.From], byName[e.To]
		x1, y1 := a.X+nodeW, a.Y+nodeH/2
		x2, y2 := b.X, b.Y+nodeH/2
		mid := (x1 + x2) / 2
		e.Path = svgPath(x1, y1, mid, x2, y2)
	}
}

func svgPath(x1, y1, mid, x2, y2 int) string {
	return fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, mid, y1, mid, y2, x2, y2)
}

// shorten cuts s to n characters, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

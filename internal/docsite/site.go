package docsite

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Site is a rendered catalog: its files by path ("index.html",
// "models/x.y.html", "assets/site.css").
type Site struct {
	Files map[string][]byte
}

// page is what a template is given.
type page struct {
	Root  string // "" at the top, "../" a folder down
	Title string
	Nav   string // which entry of the navigation is this page
	Cat   *Catalog
	Model *Model
	Src   *Source
	Graph *graph
	Data  any // the lineage page's data, for its script
}

// Render renders every page of c.
func Render(c *Catalog) (*Site, error) {
	r := &renderer{c: c, site: &Site{Files: map[string][]byte{}}, links: map[string]string{}}
	for _, m := range c.Models {
		r.links[m.Name] = "models/" + fileName(m.Name)
	}
	for _, s := range c.Sources {
		for _, t := range s.Tables {
			r.links[t] = "sources/" + fileName(s.Name)
		}
	}
	t, err := template.New("").Funcs(r.funcs()).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("docs templates: %w", err)
	}
	r.t = t
	if err := r.pages(); err != nil {
		return nil, err
	}
	assets, err := fs.Glob(files, "assets/*")
	if err != nil {
		return nil, err
	}
	for _, a := range assets {
		b, err := fs.ReadFile(files, a)
		if err != nil {
			return nil, err
		}
		r.site.Files[a] = b
	}
	return r.site, nil
}

type renderer struct {
	c     *Catalog
	t     *template.Template
	site  *Site
	links map[string]string // relation → its page, from the top
}

func (r *renderer) pages() error {
	c := r.c
	top := []struct {
		file, tmpl, title, nav string
		data                   any
	}{
		{"index.html", "index", c.Title, "index", nil},
		{"lineage.html", "lineage", "Lineage", "lineage", r.lineageData()},
		{"dashboards.html", "dashboards", "Dashboards", "dashboards", nil},
		{"runs.html", "runs", "Runs", "runs", nil},
	}
	for _, p := range top {
		pg := &page{Title: p.title, Nav: p.nav, Cat: c, Data: p.data}
		if p.tmpl == "lineage" {
			pg.Graph = layout(c)
		}
		if err := r.render(p.file, p.tmpl, pg); err != nil {
			return err
		}
	}
	for _, m := range c.Models {
		if err := r.render("models/"+fileName(m.Name), "model", &page{Root: "../", Title: m.Name, Nav: "models", Cat: c, Model: m}); err != nil {
			return err
		}
	}
	for _, s := range c.Sources {
		if err := r.render("sources/"+fileName(s.Name), "source", &page{Root: "../", Title: "Source " + s.Name, Nav: "sources", Cat: c, Src: s}); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) render(file, tmpl string, p *page) error {
	var b bytes.Buffer
	if err := r.t.ExecuteTemplate(&b, tmpl, p); err != nil {
		return fmt.Errorf("docs page %s: %w", file, err)
	}
	r.site.Files[file] = b.Bytes()
	return nil
}

// lineageData is what the lineage page's script reads: each model
// column's inputs and the panels that show it, each relation's layer and
// page.
func (r *renderer) lineageData() any {
	cols, panels := map[string][]string{}, map[string][]string{}
	for _, m := range r.c.Models {
		for _, col := range m.Columns {
			from := col.From
			if from == nil {
				from = []string{}
			}
			cols[m.Name+"."+col.Name] = from
			if len(col.Panels) > 0 {
				panels[m.Name+"."+col.Name] = col.Panels
			}
		}
	}
	layers := map[string]int{}
	for _, n := range layout(r.c).Nodes {
		layers[n.Name] = n.Layer
	}
	return map[string]any{"columns": cols, "panels": panels, "layers": layers, "links": r.links}
}

func (r *renderer) funcs() template.FuncMap {
	return template.FuncMap{
		// link is the page of a relation (or of a column's relation), from
		// the page at root; "" when it has none.
		"link": func(root, name string) string {
			if l, ok := r.links[name]; ok {
				return root + l
			}
			if i := strings.LastIndex(name, "."); i > 0 {
				if l, ok := r.links[name[:i]]; ok {
					return root + l
				}
			}
			return ""
		},
		"modelFile": fileName,
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"join":  strings.Join,
		"short": func(v string) string { return shorten(v, 13) },
		"nodeW": func() int { return nodeW },
		"nodeH": func() int { return nodeH },
		"add":   func(a, b int) int { return a + b },
		"half":  func(a int) int { return a / 2 },
		"kinds": func(n *node) string {
			if n.Model {
				return "node model"
			}
			return "node source"
		},
		"sorted": func(xs []string) []string { return slices.Sorted(slices.Values(xs)) },
	}
}

// fileName is the page of a model or source: its name is made of
// lower-case identifiers and dots, safe in a path as it is.
func fileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' {
			return '_'
		}
		return r
	}, name) + ".html"
}

// Pages counts the site's pages.
func (s *Site) Pages() int {
	n := 0
	for name := range s.Files {
		if strings.HasSuffix(name, ".html") {
			n++
		}
	}
	return n
}

// Write writes the site into dir, making it if need be; files of an
// earlier site that this one lacks are left alone.
func (s *Site) Write(dir string) error {
	for _, name := range slices.Sorted(maps.Keys(s.Files)) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, s.Files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ServeHTTP serves the site's files: "/" is its index.
func (s *Site) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+req.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	b, ok := s.Files[name]
	if !ok {
		http.NotFound(w, req)
		return
	}
	http.ServeContent(w, req, name, time.Time{}, bytes.NewReader(b))
}

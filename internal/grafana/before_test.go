package grafana

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// leaves flattens a decoded document into path → value; an empty object
// or array is a leaf of its own.
func leaves(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, e := range x {
			leaves(e, path+"."+k, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, e := range x {
			leaves(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		out[path] = fmt.Sprint(x)
	}
}

// changed are the leaves the declarations change on purpose, by file:
// the bar gauges of Products show a bar per product (each_row) where
// Grafana's default reduced each column to one value, two bars in all.
var changed = map[string]map[string]string{
	"products.json": {
		".panels[0].options.reduceOptions.values": "true", ".panels[0].options.reduceOptions.calcs": "[]", ".panels[0].options.reduceOptions.fields": "/^quantity$/",
		".panels[1].options.reduceOptions.values": "true", ".panels[1].options.reduceOptions.calcs": "[]", ".panels[1].options.reduceOptions.fields": "/^quantity$/",
		".panels[2].options.reduceOptions.values": "true", ".panels[2].options.reduceOptions.calcs": "[]", ".panels[2].options.reduceOptions.fields": "/^revenue$/",
	},
}

// TestRenderedAsBefore compares the provisioning files the cafe's
// declarations render with those the Go definitions rendered before them
// (testdata/before): every panel, query, variable, link and alert rule is
// there with every value it had, in any key order, and nothing is new but
// the changes made on purpose (changed). An empty object or list of before
// (options {}) may be filled in by a change.
func TestRenderedAsBefore(t *testing.T) {
	files, err := cafe(t).Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("%d files rendered, want the 4 dashboards and the alerts of before", len(files))
	}
	for _, f := range files {
		name := path.Base(f.Path)
		if f.Path == AlertsOut {
			name = "alerting.yaml"
		}
		t.Run(name, func(t *testing.T) {
			before, err := os.ReadFile(filepath.Join("testdata", "before", name))
			if err != nil {
				t.Fatal(err)
			}
			decode := json.Unmarshal
			if name == "alerting.yaml" {
				decode = yaml.Unmarshal
			}
			var b, n map[string]any
			if err := decode(before, &b); err != nil {
				t.Fatalf("before: %v", err)
			}
			if err := decode(f.Data, &n); err != nil {
				t.Fatalf("rendered: %v", err)
			}
			bl, nl := map[string]string{}, map[string]string{}
			leaves(b, "", bl)
			leaves(n, "", nl)
			for p, want := range bl {
				got, ok := nl[p]
				if (want == "{}" || want == "[]") && !ok && hasPrefix(nl, p) {
					continue
				}
				if got != want || !ok {
					t.Errorf("%s: got %q, want %q as before", p, got, want)
				}
			}
			for p, got := range nl {
				if _, ok := bl[p]; ok {
					continue
				}
				if want, ok := changed[name][p]; !ok || got != want {
					t.Errorf("%s = %q is new (changed on purpose: %q, %v)", p, got, want, ok)
				}
			}
			for p := range changed[name] {
				if _, ok := nl[p]; !ok {
					t.Errorf("%s: missing, want the change made on purpose", p)
				}
			}
		})
	}
}

// hasPrefix reports whether some leaf lies under path.
func hasPrefix(leaves map[string]string, path string) bool {
	for p := range leaves {
		if len(p) > len(path) && p[:len(path)] == path && (p[len(path)] == '.' || p[len(path)] == '[') {
			return true
		}
	}
	return false
}

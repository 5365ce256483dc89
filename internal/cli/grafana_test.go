package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrafanaCommand: percolate grafana renders the project's declared
// dashboards and rules; --check fails while a rendered file is out of date;
// a bad declaration is a usage error naming its file and line, from
// grafana and from validate alike.
func TestGrafanaCommand(t *testing.T) {
	const url = "postgres://unused"
	dir := tempProject(t)
	r := mustRun(t, dir, url, "grafana", "--check")
	if !strings.Contains(r.stdout, "grafana: 4 dashboards, 6 alert rules: up to date") {
		t.Errorf("grafana --check on the committed files: %q", r.stdout)
	}
	decl := filepath.Join(dir, "dashboards", "products.yaml")
	edit(t, decl, "title: Sizes sold", "title: Sizes sold, large to small")
	r = percolate(t, dir, url, "grafana", "--check")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "grafana/dashboards/products.json: not what the declarations render") {
		t.Errorf("grafana --check after an edit: exit %d, %q; want 1 naming products.json", r.code, r.stderr)
	}
	if r := mustRun(t, dir, url, "validate"); !strings.Contains(r.stderr, "warning: grafana/dashboards/products.json: not what the declarations render") {
		t.Errorf("validate after an edit does not warn: %q", r.stderr)
	}
	r = mustRun(t, dir, url, "grafana")
	if !strings.Contains(r.stdout, "wrote grafana/dashboards/products.json") || !strings.Contains(r.stdout, ": 1 files written") {
		t.Errorf("grafana: got %q, want products.json alone written", r.stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, "grafana", "dashboards", "products.json"))
	if err != nil || !strings.Contains(string(b), `"title": "Sizes sold, large to small"`) {
		t.Errorf("products.json does not have the new title (%v)", err)
	}
	mustRun(t, dir, url, "grafana", "--check")

	edit(t, decl, "    unit: currencyGBP", "    units: currencyGBP")
	for _, cmd := range []string{"grafana", "validate"} {
		r = percolate(t, dir, url, cmd)
		if r.code != ExitUsage || !strings.Contains(r.stderr, `dashboards/products.yaml:43: unknown key "units" in a panel`) {
			t.Errorf("%s on a misspelt key: exit %d, %q; want 2 naming dashboards/products.yaml:43", cmd, r.code, r.stderr)
		}
	}
}

package cli

import (
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestPipelineNamedAlike names the pipeline as every command takes it: its
// first argument, or -p; both only when they agree.
func TestPipelineNamedAlike(t *testing.T) {
	url := pgtest.URL(t)
	mustRun(t, root, url, "migrate", "up")
	for _, args := range [][]string{
		{"test", "cafe", "--unit"},
		{"test", "-p", "cafe", "--unit"},
		{"models", "list", "cafe"},
		{"models", "list", "-p", "cafe"},
		{"models", "graph", "cafe", "--format", "mermaid"},
		{"plan", "-p", "cafe"},
		{"check-sources", "-p", "cafe"},
		{"plan", "cafe", "-p", "cafe"},
		{"models", "compile", "marts.branch_daily_sales", "-p", "cafe"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			mustRun(t, root, url, args...)
		})
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "cafe", "-p", "other"}, "pipeline cafe and --pipeline other: name one"},
		{[]string{"test", "nope", "--unit"}, `"nope"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := percolate(t, root, url, tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d saying %q", r.code, r.stderr, ExitUsage, tt.want)
			}
		})
	}
}

// TestSelectorBeforeLoading refuses a misspelt selector before any file is
// loaded, naming the model meant.
func TestSelectorBeforeLoading(t *testing.T) {
	url := pgtest.URL(t)
	r := percolate(t, root, url, "run", "--select", "marts.branch_daily_sale")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "did you mean marts.branch_daily_sales?") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and a did-you-mean", r.code, r.stderr, ExitUsage)
	}
	pool := connect(t, url)
	if n := scalar[int](t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname = 'percolate'`); n != 0 {
		if files := scalar[int](t, pool, `SELECT count(*) FROM percolate.files`); files != 0 {
			t.Errorf("%d files loaded before the selector was refused, want 0", files)
		}
	}
}

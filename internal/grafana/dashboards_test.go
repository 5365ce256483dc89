package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

var update = flag.Bool("update", false, "rewrite the cafe's provisioning files from its declarations")

// root is the repository's own project, the cafe.
const root = "../.."

const dir = root + "/" + DashboardsOut

func TestMain(m *testing.M) { pgtest.Main(m) }

// cafe is what the cafe project declares.
func cafe(t *testing.T) *Provisioning {
	t.Helper()
	p, err := Load(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Dashboards) == 0 || len(p.Rules) == 0 {
		t.Fatalf("the cafe declares %d dashboards and %d alert rules", len(p.Dashboards), len(p.Rules))
	}
	return p
}

// TestRenderedUpToDate: the committed provisioning files are what the
// cafe's declarations render (as percolate grafana writes them), and
// grafana/dashboards holds no other.
func TestRenderedUpToDate(t *testing.T) {
	files, err := cafe(t).Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join(root, f.Path)
		if *update {
			if err := os.WriteFile(path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run percolate grafana)", err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s is not what the declarations render: run percolate grafana", path)
		}
	}
	json, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(json) != len(files)-1 {
		t.Errorf("%d dashboard files in %s, want the %d declared", len(json), dir, len(files)-1)
	}
}

// dashboardFile is the part of Grafana's dashboard schema the provisioner
// and the panels rely on.
type dashboardFile struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos   struct{ X, Y, W, H int } `json:"gridPos"`
		TimeShift string                   `json:"timeShift"`
		Targets   []struct {
			RefID  string `json:"refId"`
			Format string `json:"format"`
			RawSQL string `json:"rawSql"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name, Type, Query string
			Hide              int `json:"hide"`
		} `json:"list"`
	} `json:"templating"`
	Time  struct{ From, To string } `json:"time"`
	Links []struct {
		Title, Type, URL string
	} `json:"links"`
}

func readDashboards(t *testing.T) map[string]dashboardFile {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if n := len(cafe(t).Dashboards); len(files) != n {
		t.Fatalf("%d dashboard files, want %d", len(files), n)
	}
	out := map[string]dashboardFile{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		var d dashboardFile
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[d.Title] = d
	}
	return out
}

func TestDashboardShape(t *testing.T) {
	uids := map[string]bool{}
	for _, d := range readDashboards(t) {
		if d.UID == "" || uids[d.UID] || d.SchemaVersion != SchemaVersion || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
		}
		uids[d.UID] = true
		if vs := d.Templating.List; len(vs) == 0 || vs[0].Name != "branch" || vs[0].Hide != 0 {
			t.Errorf("%s: want a branch variable first", d.Title)
		}
		for _, v := range d.Templating.List[1:] {
			if v.Hide != 2 {
				t.Errorf("%s: variable %s is shown: only branch is the reader's to choose", d.Title, v.Name)
			}
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			switch {
			case p.ID == 0 || ids[p.ID]:
				t.Errorf("%s: panel %q: id %d is missing or repeated", d.Title, p.Title, p.ID)
			case p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0:
				t.Errorf("%s: panel %q: gridPos %+v does not fit 24 columns", d.Title, p.Title, p.GridPos)
			case p.Datasource.UID != DatasourceUID || p.Datasource.Type != "grafana-postgresql-datasource":
				t.Errorf("%s: panel %q: datasource %+v", d.Title, p.Title, p.Datasource)
			case len(p.Targets) != 1 || p.Targets[0].RefID == "" || p.Targets[0].RawSQL == "":
				t.Errorf("%s: panel %q: targets %+v", d.Title, p.Title, p.Targets)
			case !slices.Contains([]string{"time_series", "table"}, p.Targets[0].Format):
				t.Errorf("%s: panel %q: format %q", d.Title, p.Title, p.Targets[0].Format)
			}
			ids[p.ID] = true
		}
	}
	prov, err := os.ReadFile("../../grafana/provisioning/datasources/percolate.yaml")
	if err != nil || !strings.Contains(string(prov), "uid: "+DatasourceUID) || !strings.Contains(string(prov), "${PERCOLATE_GRAFANA_PASSWORD}") {
		t.Errorf("the provisioned data source must have uid %s and take its password from the environment (%v)", DatasourceUID, err)
	}
}

// warehouse loads the sample data (and the real samples where present)
// into a fresh database and returns it, with a connection as the reader.
func warehouse(t *testing.T) (owner *pgxpool.Pool, reader *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	owner, u := pgtest.Pool(t)
	p, err := project.Open("../..", project.Options{DatabaseURL: u, HashKey: "grafana test key", ReaderPassword: "reader test password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, owner, project.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	// A failed warn check, so the failed-checks panel has something to show.
	failed := ledger.Check{Model: "core.orders", Name: "sql … [warn]", Severity: "warn", Failures: 3}
	if err := (ledger.Store{}).RecordChecks(ctx, owner, 0, []ledger.Check{failed}); err != nil {
		t.Fatal(err)
	}
	ru, _ := url.Parse(u)
	ru.User = url.UserPassword("percolate_grafana", "reader test password")
	reader, err = pg.Connect(ctx, ru.String())
	if err != nil {
		t.Fatalf("connect as percolate_grafana: %v", err)
	}
	t.Cleanup(reader.Close)
	return owner, reader
}

var timeFilter = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`)

// expand does what Grafana does to a panel's SQL for a fixed range and
// every branch selected.
func expand(sql string, branches []string) string {
	sql = timeFilter.ReplaceAllString(sql, "$1 BETWEEN '2020-01-01T00:00:00Z' AND now() + interval '1 day'")
	quoted := make([]string, len(branches))
	for i, b := range branches {
		quoted[i] = "'" + strings.ReplaceAll(b, "'", "''") + "'"
	}
	sql = strings.ReplaceAll(sql, "$branch", strings.Join(quoted, ","))
	return sql
}

// TestPanelsQueryTheMarts runs every panel's SQL from the dashboard files,
// as the read-only role, and checks each returns rows with the columns the
// panel expects.
func TestPanelsQueryTheMarts(t *testing.T) {
	ctx := context.Background()
	_, reader := warehouse(t)
	rows, err := reader.Query(ctx, "SELECT DISTINCT branch FROM marts.branch_daily_sales ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	branches, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(branches) == 0 {
		t.Fatalf("the branch variable's query: %v, %d branches", err, len(branches))
	}
	files := readDashboards(t)
	for _, d := range cafe(t).Dashboards {
		f := files[d.Title]
		for _, want := range d.Panels {
			t.Run(d.Title+"/"+want.Title, func(t *testing.T) {
				var sql string
				for _, p := range f.Panels {
					if p.Title == want.Title {
						sql = p.Targets[0].RawSQL
					}
				}
				if sql == "" {
					t.Fatalf("no panel %q in %s", want.Title, d.File)
				}
				rows, err := reader.Query(ctx, expand(sql, branches))
				if err != nil {
					t.Fatalf("%v\n%s", err, sql)
				}
				defer rows.Close()
				var cols []string
				for _, fd := range rows.FieldDescriptions() {
					cols = append(cols, fd.Name)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				if len(want.Columns) == 0 || !slices.Equal(cols, want.Columns) {
					t.Errorf("columns %v, want %v", cols, want.Columns)
				}
				if n == 0 {
					t.Errorf("no rows")
				}
			})
		}
	}
}

// TestReaderRole: the role Grafana uses reads the marts and the health
// views and nothing else, and creates nothing.
func TestReaderRole(t *testing.T) {
	ctx := context.Background()
	_, reader := warehouse(t)
	allowed := []string{"SELECT count(*) FROM marts.branch_daily_sales", "SELECT count(*) FROM health.runs", "SELECT count(*) FROM health.freshness"}
	for _, sql := range allowed {
		if _, err := reader.Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	refused := []string{
		"SELECT count(*) FROM staging.transactions",
		"SELECT count(*) FROM staging.transaction_item_sums",
		"SELECT count(*) FROM core.orders",
		"SELECT count(*) FROM core.products",
		"SELECT count(*) FROM percolate.runs",
		"SELECT count(*) FROM percolate.files",
		"CREATE TABLE marts.x (a int)",
		"CREATE TABLE health.x (a int)",
		"CREATE TABLE public.x (a int)",
		"CREATE TEMP TABLE x (a int)",
		"CREATE SCHEMA x",
		"DELETE FROM marts.branch_daily_sales",
		"UPDATE marts.hourly_sales SET orders = 0",
	}
	for _, sql := range refused {
		_, err := reader.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: got %v, want permission denied", sql, err)
		}
	}
}

package grafana

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/percolate/percolate/internal/ledger"
)

const alertsPath = "../../grafana/provisioning/" + AlertsFile

// TestAlertsUpToDate: the provisioned alerting file is what the rule
// definitions render, and it has what Grafana needs of it.
func TestAlertsUpToDate(t *testing.T) {
	want, err := AlertsYAML()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("../../grafana/provisioning/alerting", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(alertsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/grafana -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the definitions render: edit internal/grafana/alerts.go and run go test ./internal/grafana -update", alertsPath)
	}
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Groups     []struct {
			Folder string
			Rules  []struct {
				UID, Title, Condition string
				Data                  []struct {
					RefID         string `yaml:"refId"`
					DatasourceUID string `yaml:"datasourceUid"`
				}
			}
		}
		ContactPoints []struct {
			Receivers []struct {
				Type     string
				Settings map[string]string
			}
		} `yaml:"contactPoints"`
		Policies []struct{ Receiver string }
	}
	if err := yaml.Unmarshal(got, &f); err != nil {
		t.Fatal(err)
	}
	if f.APIVersion != 1 || len(f.Groups) != 1 || len(f.Groups[0].Rules) != len(Rules) || len(f.Policies) != 1 {
		t.Fatalf("provisioning file shape: %+v", f)
	}
	for _, r := range f.Groups[0].Rules {
		if r.UID == "" || r.Condition != "B" || len(r.Data) != 2 || r.Data[0].DatasourceUID != DatasourceUID || r.Data[1].DatasourceUID != "__expr__" {
			t.Errorf("rule %+v: want a query of the percolate data source and a threshold on it", r)
		}
	}
	if !strings.Contains(string(got), "$$__timeFilter(") || strings.Contains(strings.ReplaceAll(string(got), "$$", ""), "$__") {
		t.Error("the rules' Grafana macros must be written $$__name: Grafana expands $VAR in provisioning files")
	}
	if rc := f.ContactPoints[0].Receivers[0]; rc.Type != "webhook" || rc.Settings["url"] != "${"+WebhookEnv+"}" {
		t.Errorf("contact point %+v: want a webhook whose URL comes from $%s", rc, WebhookEnv)
	}
}

// TestAlertRulesFire runs each rule's SQL, as percolate_grafana with
// Grafana's macros expanded: on a healthy warehouse no rule finds a row;
// on one whose ledger is seeded with every failure, each rule fires.
func TestAlertRulesFire(t *testing.T) {
	ctx := context.Background()
	_, healthy := warehouse(t)
	owner, failing := warehouse(t)
	var book ledger.Store
	run, err := book.StartRun(ctx, owner, "cafe", "run")
	if err != nil {
		t.Fatal(err)
	}
	if err := book.FinishRun(ctx, owner, ledger.RunOutcome{ID: run, Status: ledger.RunFailed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if err := book.RecordChecks(ctx, owner, run, []ledger.Check{{Model: "marts.branch_daily_sales", Name: "unique(branch, sales_date)", Severity: "error", Failures: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := book.RecordSourceCheck(ctx, owner, run, time.Now(), []ledger.Expectation{
		{Source: "transactions", Kind: "missing", Branch: "Leeds", Date: "2022-03-20", Severity: "warn", Detail: "no file"},
		{Source: "transactions", Kind: "volume", Branch: "Chesterfield", Date: "2022-03-25", Severity: "warn", Detail: "10%"},
	}); err != nil {
		t.Fatal(err)
	}
	id, _, err := book.ClaimFile(ctx, owner, ledger.File{RunID: run, Source: "transactions", Path: "bad.csv", Hash: "h-bad"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.FinishFile(ctx, owner, ledger.Loaded{LoadID: id, Source: "transactions", Path: "bad.csv", Rows: 10, Rejected: 90}); err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		t.Run(r.UID, func(t *testing.T) {
			sql := expand(r.SQL, nil)
			for _, c := range []struct {
				name string
				want bool
				db   *pgxpool.Pool
			}{{"healthy", false, healthy}, {"failing", true, failing}} {
				rows, err := c.db.Query(ctx, sql)
				if err != nil {
					t.Fatalf("%s: %v\n%s", c.name, err, sql)
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				if (n > 0) != c.want {
					t.Errorf("on a %s warehouse the rule finds %d row(s)", c.name, n)
				}
			}
		})
	}
	if !strings.Contains(Rules[2].SQL, "health.expectations") {
		t.Error("the missing-branch rule must read health.expectations")
	}
}

package grafana

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/percolate/percolate/internal/ledger"
)

const alertsPath = root + "/" + AlertsOut

// TestAlertsShape: the provisioned alerting file has what Grafana needs
// of it (TestRenderedUpToDate holds it to the declarations).
func TestAlertsShape(t *testing.T) {
	rules := cafe(t).Rules
	got, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Groups     []struct {
			Folder string
			Rules  []struct {
				UID, Title, Condition string
				NoDataState           string `yaml:"noDataState"`
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
	if f.APIVersion != 1 || len(f.Groups) != 1 || len(f.Groups[0].Rules) != len(rules) || len(f.Policies) != 1 {
		t.Fatalf("provisioning file shape: %+v", f)
	}
	for i, r := range f.Groups[0].Rules {
		if want := rules[i].noData(); r.NoDataState != want {
			t.Errorf("rule %s: noDataState %q, want %q", r.UID, r.NoDataState, want)
		}
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

// fires runs a rule's SQL as Grafana's role, with Grafana's macros
// expanded for the last day, and says whether Grafana would alert: a row whose value (its
// last column) is above 0, or no row at all for a rule that alerts on a
// silent warehouse.
func fires(t *testing.T, db *pgxpool.Pool, r Rule) bool {
	t.Helper()
	// Grafana evaluates a rule over its relative time range: the last day.
	rows, err := db.Query(context.Background(), expandRange(r.SQL, "now() - interval '1 day'", "now()"))
	if err != nil {
		t.Fatalf("%s: %v\n%s", r.UID, err, r.SQL)
	}
	defer rows.Close()
	n, firing := 0, false
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		n++
		v, err := strconv.ParseFloat(fmt.Sprint(vals[len(vals)-1]), 64)
		if err != nil {
			t.Fatalf("%s: its last column %v is not a number: %v", r.UID, vals[len(vals)-1], err)
		}
		firing = firing || v > 0
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return firing || (n == 0 && r.noData() == "Alerting")
}

// TestAlertRulesFire evaluates each rule as Grafana would: on a healthy
// warehouse none alerts; on one whose ledger is seeded with every failure,
// each does; on one whose ledger is empty (nothing ever ran), exactly the
// rules that watch for silence do.
func TestAlertRulesFire(t *testing.T) {
	ctx := context.Background()
	healthyOwner, healthy := warehouse(t)
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
	if err := book.RecordSourceCheck(ctx, owner, run, time.Date(2022, 3, 27, 0, 0, 0, 0, time.UTC), []ledger.Expectation{
		{Source: "transactions", Kind: "missing", Group: "Leeds", Date: "2022-03-20", Severity: "warn", Detail: "no file"},
		{Source: "transactions", Kind: "volume", Group: "Chesterfield", Date: "2022-03-25", Severity: "warn", Detail: "10%"},
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
	// The last success was 27 hours ago; the pipeline declares 26.
	if _, err := owner.Exec(ctx, `UPDATE percolate.runs SET finished_at = now() - interval '27 hours' WHERE status = 'ok'`); err != nil {
		t.Fatal(err)
	}
	rules := cafe(t).Rules
	for _, r := range rules {
		t.Run(r.UID, func(t *testing.T) {
			if fires(t, healthy, r) {
				t.Error("it alerts on a healthy warehouse")
			}
			if !fires(t, failing, r) {
				t.Error("it does not alert on a failing one")
			}
		})
	}
	if r := rule(t, rules, "percolate-branch-missing"); !strings.Contains(r.SQL, "health.expectations") {
		t.Error("the missing-branch rule must read health.expectations")
	}
	if _, err := healthyOwner.Exec(ctx, `TRUNCATE percolate.runs, percolate.source_checks, percolate.pipelines CASCADE`); err != nil {
		t.Fatal(err)
	}
	// Silence is a finding for these; for the others no row means no failure.
	watchSilence := []string{"percolate-branch-missing", "percolate-no-success"}
	for _, r := range rules {
		if got, want := fires(t, healthy, r), slices.Contains(watchSilence, r.UID); got != want {
			t.Errorf("%s: on a warehouse where nothing ever ran it alerts: %v, want %v", r.UID, got, want)
		}
	}
}

// TestRunStatusesAlert: an interrupted run is not a failure; an abandoned
// one (killed) alerts as a failed one does when the next run closes it,
// though it stopped, and its last work was recorded, days before.
func TestRunStatusesAlert(t *testing.T) {
	ctx := context.Background()
	owner, reader := warehouse(t)
	failed := rule(t, cafe(t).Rules, "percolate-run-failed")
	for _, c := range []struct {
		status, started, finished string
		want                      bool
	}{
		{"interrupted", "now() - interval '1 hour'", "now()", false},
		{"ok", "now() - interval '1 hour'", "now()", false},
		{"abandoned", "now() - interval '3 days'", "now() - interval '3 days' + interval '10 minutes'", true},
		{"failed", "now() - interval '1 hour'", "now()", true},
	} {
		t.Run(c.status, func(t *testing.T) {
			if _, err := owner.Exec(ctx, `DELETE FROM percolate.runs WHERE command = 'backfill'`); err != nil {
				t.Fatal(err)
			}
			// The run, then the one after it (which closes an abandoned run).
			if _, err := owner.Exec(ctx, `INSERT INTO percolate.runs (pipeline, command, started_at, finished_at, status)
				VALUES ('cafe', 'backfill', `+c.started+`, `+c.finished+`, $1), ('cafe', 'backfill', now() - interval '5 minutes', now(), 'ok')`, c.status); err != nil {
				t.Fatal(err)
			}
			if got := fires(t, reader, failed); got != c.want {
				t.Errorf("a run %s: the rule alerts %v, want %v", c.status, got, c.want)
			}
		})
	}
}

// rule is the rule of uid.
func rule(t *testing.T, rules []Rule, uid string) Rule {
	t.Helper()
	for _, r := range rules {
		if r.UID == uid {
			return r
		}
	}
	t.Fatalf("no rule %s", uid)
	return Rule{}
}

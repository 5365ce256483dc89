package grafana

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule is a Grafana alert rule on the pipeline-health views: its SQL
// returns a row for each thing wrong (labelled by its text columns, valued
// by its number column) and none when all is well.
type Rule struct {
	UID, Title string
	SQL        string
	Severity   string // the label notifications are routed by: warning, critical
	Summary    string
	// Silent is true for a rule whose SQL returns a row for each thing
	// watched, valued 0 when it is well, so that no row at all means the
	// warehouse itself is silent (nothing ever ran or was checked): Grafana
	// then alerts (noDataState Alerting) instead of reading OK.
	Silent bool
}

// AlertsFile is where the rules, the contact point and the notification
// policy are provisioned.
const AlertsFile = "alerting/percolate.yaml"

// WebhookEnv names the environment variable Grafana reads the webhook's
// URL from when it provisions the contact point.
const WebhookEnv = "PERCOLATE_ALERT_WEBHOOK_URL"

// Rules are the alerts that tell someone before the manager notices.
var Rules = []Rule{
	{UID: "percolate-run-failed", Title: "A run failed", Severity: "critical",
		Summary: "A percolate run failed, or was killed and found abandoned by the next run: see the Runs panel of Pipeline health for its error. An interrupted run (Ctrl-C) is not a failure.",
		SQL: `SELECT command, status, count(*)::int AS failed_runs
FROM health.runs
WHERE alerting AND $__timeFilter(closed_at)
GROUP BY command, status`},
	{UID: "percolate-check-failed", Title: "An error check failed", Severity: "critical",
		Summary: "A model's error check failed, so its run published nothing: see Failed checks.",
		SQL: `SELECT model, check_name, max(failures)::int AS failures
FROM health.check_results
WHERE severity = 'error' AND failures > 0 AND $__timeFilter(checked_at)
GROUP BY model, check_name`},
	{UID: "percolate-branch-missing", Title: "A branch's files are missing or stale", Severity: "warning", Silent: true,
		Summary: "A branch sent no file for a day of the last two weeks, its newest day is old, or no branch sends anything (percolate check-sources says which); no delivery check at all alerts too.",
		// One row valued 0 when the latest check found nothing recent.
		SQL: `SELECT coalesce(e.source, 'all') AS source, coalesce(e.kind, 'none') AS kind, coalesce(nullif(e.branch, ''), 'all') AS branch, count(e.kind)::int AS days
FROM (SELECT as_of FROM health.source_checks ORDER BY check_id DESC LIMIT 1) AS c
LEFT JOIN health.expectations AS e ON e.kind IN ('stale', 'silent') OR (e.kind = 'missing' AND e.day >= c.as_of - 14)
GROUP BY 1, 2, 3`},
	{UID: "percolate-rejects", Title: "Rejected rows above 1%", Severity: "warning",
		Summary: "More than 1% of a source's rows were rejected in the alert's range: percolate rejects lists them.",
		SQL: `SELECT source, sum(rows_rejected)::int AS rows_rejected
FROM health.file_loads
WHERE $__timeFilter(loaded_at)
GROUP BY source
HAVING sum(rows_rejected) > 0.01 * sum(rows_loaded + rows_rejected)`},
	{UID: "percolate-volume", Title: "A day of unusual volume", Severity: "warning",
		Summary: "A branch's day has far fewer or more orders than its usual for that weekday: a cut or doubled file?",
		SQL: `SELECT source, branch, day::text AS day, 1 AS anomaly
FROM health.expectations
WHERE kind = 'volume'`},
	{UID: "percolate-no-success", Title: "No successful run for too long", Severity: "critical", Silent: true,
		Summary: "No run of a pipeline succeeded within its success_within (pipelines.yaml, default 26h): see health.last_success; no run at all alerts too.",
		SQL: `SELECT pipeline, hours_overdue::float AS hours_overdue
FROM health.last_success`},
}

// AlertsYAML renders the rules, a webhook contact point whose URL comes
// from the environment, and the policy that sends every rule there, in
// Grafana's file provisioning format.
func AlertsYAML() ([]byte, error) {
	type m = map[string]any
	var rules []any
	for _, r := range Rules {
		noData := "OK"
		if r.Silent {
			noData = "Alerting"
		}
		rules = append(rules, m{
			"uid": r.UID, "title": r.Title, "condition": "B",
			"data": []any{
				m{"refId": "A", "datasourceUid": DatasourceUID, "relativeTimeRange": m{"from": 86400, "to": 0},
					"model": m{"refId": "A", "editorMode": "code", "format": "table", "rawQuery": true,
						// Grafana expands $VAR in provisioning files; $$ is a $.
						"rawSql": strings.ReplaceAll(r.SQL, "$", "$$")}},
				m{"refId": "B", "datasourceUid": "__expr__",
					"model": m{"refId": "B", "type": "threshold", "expression": "A",
						"conditions": []any{m{"evaluator": m{"type": "gt", "params": []int{0}}}}}},
			},
			"noDataState": noData, "execErrState": "Error", "for": "0s",
			"annotations": m{"summary": r.Summary},
			"labels":      m{"severity": r.Severity, "team": "percolate"},
		})
	}
	doc := m{
		"apiVersion": 1,
		"groups":     []any{m{"orgId": 1, "name": "percolate", "folder": "Percolate", "interval": "5m", "rules": rules}},
		"contactPoints": []any{m{"orgId": 1, "name": "percolate-webhook", "receivers": []any{
			m{"uid": "percolate-webhook", "type": "webhook", "settings": m{"url": "${" + WebhookEnv + "}", "httpMethod": "POST"}},
		}}},
		"policies": []any{m{"orgId": 1, "receiver": "percolate-webhook", "group_by": []string{"grafana_folder", "alertname"}}},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Rendered from internal/grafana/alerts.go by go test ./internal/grafana -update: edit that, not this.\n"), b...), nil
}

package grafana

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// AlertsFile is where the rules, the contact point and the notification
// policy are provisioned, under grafana/provisioning.
const AlertsFile = "alerting/percolate.yaml"

// AlertsOut is AlertsFile in the project folder.
const AlertsOut = "grafana/provisioning/" + AlertsFile

// WebhookEnv names the environment variable Grafana reads the webhook's
// URL from when it provisions the contact point.
const WebhookEnv = "PERCOLATE_ALERT_WEBHOOK_URL"

// noData is the rule's noDataState.
func (r *Rule) noData() string {
	if r.NoData == "" {
		return "OK"
	}
	return r.NoData
}

// AlertsYAML renders the rules, a webhook contact point whose URL comes
// from the environment, and the policy that sends every rule there, in
// Grafana's file provisioning format.
func AlertsYAML(rules []Rule) ([]byte, error) {
	type m = map[string]any
	out := []any{}
	for _, r := range rules {
		out = append(out, m{
			"uid": r.UID, "title": r.Title, "condition": "B",
			"data": []any{
				m{"refId": "A", "datasourceUid": DatasourceUID, "relativeTimeRange": m{"from": 86400, "to": 0},
					"model": m{"refId": "A", "editorMode": "code", "format": "table", "rawQuery": true,
						// Grafana expands $VAR in provisioning files; $$ is a $.
						"rawSql": strings.ReplaceAll(strings.TrimSuffix(r.SQL, "\n"), "$", "$$")}},
				m{"refId": "B", "datasourceUid": "__expr__",
					"model": m{"refId": "B", "type": "threshold", "expression": "A",
						"conditions": []any{m{"evaluator": m{"type": "gt", "params": []int{0}}}}}},
			},
			"noDataState": r.noData(), "execErrState": "Error", "for": "0s",
			"annotations": m{"summary": strings.TrimSpace(r.Summary)},
			"labels":      m{"severity": r.Severity, "team": "percolate"},
		})
	}
	doc := m{
		"apiVersion": 1,
		"groups":     []any{m{"orgId": 1, "name": "percolate", "folder": "Percolate", "interval": "5m", "rules": out}},
		"contactPoints": []any{m{"orgId": 1, "name": "percolate-webhook", "receivers": []any{
			m{"uid": "percolate-webhook", "type": "webhook", "settings": m{"url": "${" + WebhookEnv + "}", "httpMethod": "POST"}},
		}}},
		"policies": []any{m{"orgId": 1, "receiver": "percolate-webhook", "group_by": []string{"grafana_folder", "alertname"}}},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Rendered from "+AlertsDecl+" by percolate grafana: edit that, not this.\n"), b...), nil
}

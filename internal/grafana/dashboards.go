// Package grafana renders the dashboards and alert rules a project
// declares (dashboards/*.yaml, alerts.yaml) as Grafana's provisioning
// files (grafana/dashboards/*.json, grafana/provisioning/alerting/): the
// project owns every query, title and unit; this package knows only
// Grafana's formats. The tests run every panel's SQL of the repository's
// own project as the read-only role, so a model edit that breaks a panel
// fails the suite.
package grafana

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// SchemaVersion is the Grafana dashboard schema the JSON targets (Grafana 11).
const SchemaVersion = 39

// DatasourceUID is the uid of the provisioned PostgreSQL data source.
const DatasourceUID = "percolate"

// DashboardsOut is where the dashboards are rendered, in the project folder.
const DashboardsOut = "grafana/dashboards"

// format is the query's result format: as declared, else time_series for
// a time series.
func (p *Panel) format() string {
	switch {
	case p.Format != "":
		return p.Format
	case p.Type == "timeseries":
		return "time_series"
	}
	return "table"
}

// JSON renders the dashboard for provisioning.
func (d *Dashboard) JSON() ([]byte, error) {
	ds := map[string]any{"type": "grafana-postgresql-datasource", "uid": DatasourceUID}
	var panels []any
	x, y, rowH := 0, 0, 0
	for i := range d.Panels {
		p := &d.Panels[i]
		if x+p.Width > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		panel := p.json(ds)
		panel["id"] = i + 1
		panel["gridPos"] = map[string]int{"x": x, "y": y, "w": p.Width, "h": p.Height}
		if d.DataLink != nil {
			panel["timeShift"] = "$" + ShiftVariable
		}
		panels = append(panels, panel)
		x += p.Width
		rowH = max(rowH, p.Height)
	}
	variables := []any{}
	for _, v := range d.Variables {
		variables = append(variables, v.json(ds))
	}
	links := []any{}
	if d.DataLink != nil {
		vars, ls := d.dataRange(ds)
		variables, links = append(variables, vars...), ls
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	dash := map[string]any{
		"uid": d.UID, "title": d.Title, "tags": tags, "timezone": "browser",
		"schemaVersion": SchemaVersion, "version": 1, "editable": true, "graphTooltip": 1,
		"time":       map[string]string{"from": "now-90d", "to": "now"},
		"panels":     panels,
		"templating": map[string]any{"list": variables},
		"links":      links,
	}
	return json.MarshalIndent(dash, "", "  ")
}

func (v *Variable) json(ds map[string]any) map[string]any {
	out := map[string]any{
		"name": v.Name, "label": v.Label, "type": "query", "datasource": ds,
		"query": v.SQL, "definition": v.SQL,
		"multi": v.Multi, "includeAll": v.All, "refresh": 1, "sort": 1,
	}
	if v.All {
		out["current"] = map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}
	}
	return out
}

// cellBackground colours a table's cells, centred.
var cellBackground = map[string]any{"cellOptions": map[string]any{"type": "color-background"}, "align": "center"}

func (p *Panel) json(ds map[string]any) map[string]any {
	defaults := map[string]any{}
	if p.Unit != "" {
		defaults["unit"] = p.Unit
	}
	options := map[string]any{}
	if p.Heat {
		defaults["color"] = map[string]any{"mode": "continuous-GrYlRd"}
		defaults["custom"] = cellBackground
	}
	if p.EachRow != "" {
		// Grafana reduces each column to one value unless told to show
		// every row's.
		options["reduceOptions"] = map[string]any{"values": true, "calcs": []string{}, "fields": "/^" + p.EachRow + "$/"}
	}
	overrides := []any{}
	if p.Colors != nil {
		overrides = append(overrides, colorOverride(p.Colors.Column, p.Colors.Values))
	}
	panel := map[string]any{
		"type": p.Type, "title": p.Title, "datasource": ds,
		"fieldConfig": map[string]any{"defaults": defaults, "overrides": overrides},
		"options":     options,
		"targets": []any{map[string]any{"refId": "A", "datasource": ds, "editorMode": "code", "rawQuery": true,
			"format": p.format(), "rawSql": strings.TrimSuffix(p.SQL, "\n")}},
	}
	if m := p.Matrix; m != nil {
		panel["transformations"] = []any{map[string]any{"id": "groupingToMatrix",
			"options": map[string]any{"rowField": m.Rows, "columnField": m.Columns, "valueField": m.Values, "emptyValue": "empty"}}}
		if len(m.Colors) > 0 {
			defaults["mappings"] = []any{valueMapping(m.Colors)}
		}
		defaults["custom"] = cellBackground
	}
	return panel
}

// valueMapping gives each value its colour, the values sorted.
func valueMapping(colors map[string]string) map[string]any {
	options := map[string]any{}
	for i, v := range slices.Sorted(maps.Keys(colors)) {
		options[v] = map[string]any{"color": colors[v], "index": i}
	}
	return map[string]any{"type": "value", "options": options}
}

// colorOverride colours the column's cells by value: a value mapping per
// value, and coloured cell backgrounds.
func colorOverride(column string, colors map[string]string) map[string]any {
	return map[string]any{
		"matcher": map[string]any{"id": "byName", "options": column},
		"properties": []any{
			map[string]any{"id": "mappings", "value": []any{valueMapping(colors)}},
			map[string]any{"id": "custom.cellOptions", "value": map[string]any{"type": "color-background"}},
		},
	}
}

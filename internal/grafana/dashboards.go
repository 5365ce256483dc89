// Package grafana defines the cafe dashboards as code and renders them as
// Grafana dashboard JSON for provisioning (grafana/dashboards/). Every
// panel's SQL is run against the real marts by the tests, as the read-only
// role, so a model edit that breaks a panel fails the suite.
package grafana

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// SchemaVersion is the Grafana dashboard schema the JSON targets (Grafana 11).
const SchemaVersion = 39

// DatasourceUID is the uid of the provisioned PostgreSQL data source.
const DatasourceUID = "percolate"

// Panel is one panel: its SQL and the columns it must return.
type Panel struct {
	Title   string
	Type    string // timeseries, table, stat, barchart, piechart, bargauge
	Format  string // time_series or table
	SQL     string
	Columns []string
	W, H    int
	Unit    string
	// Heat colours a table's cells by value (the hour × weekday heat map).
	Heat bool
	// Matrix pivots a table's rows into a grid: one row per value of
	// Matrix[0], one column per value of Matrix[1], cells of Matrix[2]
	// (Grafana's grouping-to-matrix transformation).
	Matrix []string
	// Colors colours the cells of a table's column by their value: the
	// column, then value → colour.
	Colors *Colors
}

// Colors colours the cells of one column by value.
type Colors struct {
	Field  string
	Values map[string]string
}

// runColors tell how a run ended at a glance: an interrupted run is not a
// failure, an abandoned one (killed) is.
var runColors = &Colors{Field: "status", Values: map[string]string{
	"ok": "green", "running": "blue", "interrupted": "yellow", "failed": "red", "abandoned": "dark-red"}}

// Dashboard is one provisioned dashboard.
type Dashboard struct {
	UID, Title, File string
	Panels           []Panel
	// DataLink shifts the dashboard's panels onto the newest loaded data
	// when its range holds none, and gives it a link to that data
	// (datarange.go): for the dashboards of the data's own days, not of
	// runs, which are recent.
	DataLink bool
}

const branchFilter = "branch IN ($branch)"

// Dashboards are the cafe managers' dashboards.
var Dashboards = []Dashboard{
	{UID: "percolate-sales", Title: "Sales overview", File: "sales-overview.json", DataLink: true, Panels: []Panel{
		{Title: "Revenue by branch", Type: "timeseries", Format: "time_series", W: 16, H: 9, Unit: "currencyGBP",
			SQL: `SELECT sales_date::timestamp AS "time", branch AS metric, revenue
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
ORDER BY 1`, Columns: []string{"time", "metric", "revenue"}},
		{Title: "Average order value", Type: "stat", Format: "table", W: 8, H: 9, Unit: "currencyGBP",
			SQL: `SELECT round(sum(revenue) / nullif(sum(orders), 0), 2) AS avg_order_value
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter, Columns: []string{"avg_order_value"}},
		{Title: "Orders by branch", Type: "timeseries", Format: "time_series", W: 12, H: 8,
			SQL: `SELECT sales_date::timestamp AS "time", branch AS metric, orders
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
ORDER BY 1`, Columns: []string{"time", "metric", "orders"}},
		{Title: "Average order value by branch", Type: "timeseries", Format: "time_series", W: 12, H: 8, Unit: "currencyGBP",
			SQL: `SELECT sales_date::timestamp AS "time", branch AS metric, avg_order_value
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
ORDER BY 1`, Columns: []string{"time", "metric", "avg_order_value"}},
		{Title: "Branches, best to worst", Type: "table", Format: "table", W: 24, H: 8,
			SQL: `SELECT branch, sum(revenue) AS revenue, sum(orders) AS orders, round(sum(revenue) / nullif(sum(orders), 0), 2) AS avg_order_value
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY branch
ORDER BY revenue DESC`, Columns: []string{"branch", "revenue", "orders", "avg_order_value"}},
	}},
	{UID: "percolate-products", Title: "Products", File: "products.json", DataLink: true, Panels: []Panel{
		{Title: "Top 10 products by quantity", Type: "bargauge", Format: "table", W: 12, H: 10,
			SQL: productRank("quantity", "DESC"), Columns: []string{"product", "quantity", "revenue"}},
		{Title: "Bottom 10 products by quantity", Type: "bargauge", Format: "table", W: 12, H: 10,
			SQL: productRank("quantity", "ASC"), Columns: []string{"product", "quantity", "revenue"}},
		{Title: "Top 10 products by revenue", Type: "bargauge", Format: "table", W: 12, H: 10, Unit: "currencyGBP",
			SQL: productRank("revenue", "DESC"), Columns: []string{"product", "quantity", "revenue"}},
		{Title: "Sizes sold", Type: "piechart", Format: "table", W: 12, H: 10,
			SQL: `SELECT coalesce(size, 'One size') AS size, sum(quantity) AS quantity
FROM marts.product_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY 1
ORDER BY 2 DESC`, Columns: []string{"size", "quantity"}},
		{Title: "Products by branch", Type: "table", Format: "table", W: 24, H: 10,
			SQL: `SELECT branch, product, coalesce(size, '') AS size, sum(quantity) AS quantity, sum(revenue) AS revenue
FROM marts.product_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY branch, product, size
ORDER BY branch, quantity DESC`, Columns: []string{"branch", "product", "size", "quantity", "revenue"}},
	}},
	{UID: "percolate-patterns", Title: "Trading patterns", File: "trading-patterns.json", DataLink: true, Panels: []Panel{
		{Title: "Orders by weekday and hour", Type: "table", Format: "table", W: 24, H: 9, Heat: true,
			SQL: heatMap(), Columns: heatColumns()},
		{Title: "Busiest hours", Type: "barchart", Format: "table", W: 12, H: 8,
			SQL: `SELECT lpad(hour::text, 2, '0') || ':00' AS hour, sum(orders) AS orders
FROM marts.hourly_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY hour
ORDER BY hour`, Columns: []string{"hour", "orders"}},
		{Title: "Cash and card", Type: "piechart", Format: "table", W: 12, H: 8, Unit: "currencyGBP",
			SQL: `SELECT sum(cash_revenue) AS cash, sum(card_revenue) AS card
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter, Columns: []string{"cash", "card"}},
		{Title: "Cash and card over time", Type: "timeseries", Format: "time_series", W: 24, H: 8, Unit: "currencyGBP",
			SQL: `SELECT sales_date::timestamp AS "time", sum(cash_revenue) AS cash, sum(card_revenue) AS card
FROM marts.branch_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY sales_date
ORDER BY 1`, Columns: []string{"time", "cash", "card"}},
	}},
	{UID: "percolate-health", Title: "Pipeline health", File: "pipeline-health.json", Panels: []Panel{
		// The newest 31 days that have data, wherever they lie in time: the
		// dashboard's range is the runs', which are recent.
		{Title: "Deliveries by branch and day (the newest 31 days loaded)", Type: "table", Format: "table", W: 24, H: 9, Matrix: []string{"branch", "day", "status"},
			SQL: `SELECT branch, day::text AS day, status
FROM health.deliveries
WHERE day > (SELECT max(day) - 31 FROM health.deliveries) AND ` + branchFilter + `
ORDER BY day, branch`, Columns: []string{"branch", "day", "status"}},
		{Title: "Data freshness by branch", Type: "table", Format: "table", W: 8, H: 8,
			SQL: `SELECT branch, last_sales_date, days_behind
FROM health.freshness
WHERE ` + branchFilter + `
ORDER BY days_behind DESC`, Columns: []string{"branch", "last_sales_date", "days_behind"}},
		{Title: "Last successful run", Type: "table", Format: "table", W: 8, H: 8,
			Colors: &Colors{Field: "overdue", Values: map[string]string{"yes": "red", "no": "green"}},
			SQL: `SELECT pipeline, last_success_at, success_within_hours, hours_overdue,
       CASE WHEN hours_overdue > 0 THEN 'yes' ELSE 'no' END AS overdue
FROM health.last_success
ORDER BY pipeline`, Columns: []string{"pipeline", "last_success_at", "success_within_hours", "hours_overdue", "overdue"}},
		{Title: "Run duration", Type: "timeseries", Format: "time_series", W: 8, H: 8, Unit: "s",
			SQL: `SELECT started_at AS "time", command AS metric, duration_seconds
FROM health.runs
WHERE $__timeFilter(started_at) AND duration_seconds IS NOT NULL
ORDER BY 1`, Columns: []string{"time", "metric", "duration_seconds"}},
		{Title: "Rows loaded and rejected per day", Type: "timeseries", Format: "time_series", W: 12, H: 8,
			SQL: `SELECT date_trunc('day', loaded_at) AS "time", sum(rows_loaded) AS rows_loaded, sum(rows_rejected) AS rows_rejected
FROM health.file_loads
WHERE $__timeFilter(loaded_at)
GROUP BY 1
ORDER BY 1`, Columns: []string{"time", "rows_loaded", "rows_rejected"}},
		{Title: "Failed checks", Type: "table", Format: "table", W: 12, H: 8,
			SQL: `SELECT checked_at, model, check_name, severity, failures
FROM health.check_results
WHERE $__timeFilter(checked_at) AND failures > 0
ORDER BY checked_at DESC`, Columns: []string{"checked_at", "model", "check_name", "severity", "failures"}},
		{Title: "Runs", Type: "table", Format: "table", W: 24, H: 10, Colors: runColors,
			SQL: `SELECT run_id, command, status, started_at, duration_seconds, files_loaded, files_skipped, rows_loaded, rows_rejected, models_built, error
FROM health.runs
WHERE $__timeFilter(started_at)
ORDER BY run_id DESC`, Columns: []string{"run_id", "command", "status", "started_at", "duration_seconds", "files_loaded", "files_skipped", "rows_loaded", "rows_rejected", "models_built", "error"}},
	}},
}

func productRank(by, dir string) string {
	return `SELECT product || coalesce(' (' || size || ')', '') AS product, sum(quantity) AS quantity, sum(revenue) AS revenue
FROM marts.product_daily_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY product, size
ORDER BY ` + by + ` ` + dir + `
LIMIT 10`
}

// heatMap pivots orders into weekday rows and hour columns.
func heatMap() string {
	sql := "SELECT to_char(sales_date, 'ID Dy') AS weekday"
	for h := 6; h <= 21; h++ {
		sql += fmt.Sprintf(",\n       coalesce(sum(orders) FILTER (WHERE hour = %d), 0) AS \"%02d\"", h, h)
	}
	return sql + `
FROM marts.hourly_sales
WHERE $__timeFilter(sales_date) AND ` + branchFilter + `
GROUP BY 1
ORDER BY 1`
}

func heatColumns() []string {
	cols := []string{"weekday"}
	for h := 6; h <= 21; h++ {
		cols = append(cols, fmt.Sprintf("%02d", h))
	}
	return cols
}

// JSON renders the dashboard for provisioning.
func (d Dashboard) JSON() ([]byte, error) {
	ds := map[string]any{"type": "grafana-postgresql-datasource", "uid": DatasourceUID}
	var panels []any
	x, y, rowH := 0, 0, 0
	for i, p := range d.Panels {
		if x+p.W > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		defaults := map[string]any{}
		if p.Unit != "" {
			defaults["unit"] = p.Unit
		}
		options := map[string]any{}
		if p.Heat {
			defaults["color"] = map[string]any{"mode": "continuous-GrYlRd"}
			defaults["custom"] = map[string]any{"cellOptions": map[string]any{"type": "color-background"}, "align": "center"}
		}
		var transformations []any
		if len(p.Matrix) == 3 {
			transformations = append(transformations, map[string]any{"id": "groupingToMatrix",
				"options": map[string]any{"rowField": p.Matrix[0], "columnField": p.Matrix[1], "valueField": p.Matrix[2], "emptyValue": "empty"}})
			defaults["mappings"] = []any{map[string]any{"type": "value", "options": map[string]any{
				"arrived": map[string]any{"color": "green", "index": 0},
				"missing": map[string]any{"color": "red", "index": 1},
			}}}
			defaults["custom"] = map[string]any{"cellOptions": map[string]any{"type": "color-background"}, "align": "center"}
		}
		panel := map[string]any{
			"id": i + 1, "type": p.Type, "title": p.Title, "datasource": ds,
			"gridPos":     map[string]int{"x": x, "y": y, "w": p.W, "h": p.H},
			"fieldConfig": map[string]any{"defaults": defaults, "overrides": p.Colors.overrides()},
			"options":     options,
			"targets": []any{map[string]any{"refId": "A", "datasource": ds, "editorMode": "code", "rawQuery": true,
				"format": p.Format, "rawSql": p.SQL}},
		}
		if transformations != nil {
			panel["transformations"] = transformations
		}
		if d.DataLink {
			panel["timeShift"] = "$" + ShiftVariable
		}
		panels = append(panels, panel)
		x += p.W
		rowH = max(rowH, p.H)
	}
	variables := []any{map[string]any{
		"name": "branch", "label": "Branch", "type": "query", "datasource": ds,
		"query": "SELECT DISTINCT branch FROM marts.branch_daily_sales ORDER BY 1", "definition": "SELECT DISTINCT branch FROM marts.branch_daily_sales ORDER BY 1",
		"multi": true, "includeAll": true, "refresh": 1, "sort": 1,
		"current": map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
	}}
	links := []any{}
	if d.DataLink {
		vars, ls := dataRange(d.UID, ds)
		variables, links = append(variables, vars...), ls
	}
	dash := map[string]any{
		"uid": d.UID, "title": d.Title, "tags": []string{"percolate", "cafe"}, "timezone": "browser",
		"schemaVersion": SchemaVersion, "version": 1, "editable": true, "graphTooltip": 1,
		"time":       map[string]string{"from": "now-90d", "to": "now"},
		"panels":     panels,
		"templating": map[string]any{"list": variables},
		"links":      links,
	}
	return json.MarshalIndent(dash, "", "  ")
}

// overrides colours the column's cells by value: a value mapping per
// value, and coloured cell backgrounds.
func (c *Colors) overrides() []any {
	if c == nil {
		return []any{}
	}
	values := slices.Sorted(maps.Keys(c.Values))
	options := map[string]any{}
	for i, v := range values {
		options[v] = map[string]any{"color": c.Values[v], "index": i}
	}
	return []any{map[string]any{
		"matcher": map[string]any{"id": "byName", "options": c.Field},
		"properties": []any{
			map[string]any{"id": "mappings", "value": []any{map[string]any{"type": "value", "options": options}}},
			map[string]any{"id": "custom.cellOptions", "value": map[string]any{"type": "color-background"}},
		},
	}}
}

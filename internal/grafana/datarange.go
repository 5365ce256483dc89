package grafana

import "fmt"

// A dashboard opens on the last 90 days to now, which holds nothing when
// the warehouse's history is older (a backfilled archive, the sample data).
// So the panels of the sales dashboards are shifted in time by a hidden
// variable, data_shift, read from the marts whenever the range changes:
// when the range starts after the newest loaded day, the days from that day
// to today ("1736d"; Grafana shows "timeshift -1736d" in each panel's
// header), else 0d. They open on the data wherever it lies in time, and a
// range that holds data is shown as chosen. A link, "Open on the newest
// loaded data", sets the dashboard's own range to the 90 days up to that
// day.

// ShiftVariable is the variable every panel of a dashboard with DataLink is
// shifted by (the panel's timeShift).
const ShiftVariable = "data_shift"

// rangeVariables are the hidden variables: data_shift; data_from and
// data_to, the link's range in epoch milliseconds as Grafana's from= and
// to= take them; and newest_day for the link's title. Refresh 2 reads them
// again whenever the range changes, 1 when the dashboard loads.
var rangeVariables = []struct {
	Name, SQL string
	Refresh   int
}{
	{ShiftVariable, `SELECT CASE WHEN max(sales_date) < $__timeFrom()::date THEN current_date - max(sales_date) - 1 ELSE 0 END || 'd' FROM marts.branch_daily_sales`, 2},
	{"data_from", `SELECT (extract(epoch FROM greatest(min(sales_date), max(sales_date) - 89)::timestamp) * 1000)::bigint::text FROM marts.branch_daily_sales`, 1},
	{"data_to", `SELECT (extract(epoch FROM (max(sales_date) + 1)::timestamp) * 1000)::bigint::text FROM marts.branch_daily_sales`, 1},
	{"newest_day", `SELECT max(sales_date)::text FROM marts.branch_daily_sales`, 1},
}

// DataLinkTitle is the title of the link that opens a dashboard on the
// newest loaded data.
const DataLinkTitle = "Open on the newest loaded data (to ${newest_day})"

func dataRange(uid string, ds map[string]any) (variables, links []any) {
	for _, v := range rangeVariables {
		variables = append(variables, map[string]any{
			"name": v.Name, "type": "query", "datasource": ds, "query": v.SQL, "definition": v.SQL,
			"hide": 2, "refresh": v.Refresh, "multi": false, "includeAll": false, "skipUrlSync": true,
		})
	}
	links = []any{map[string]any{
		"title": DataLinkTitle, "type": "link", "icon": "dashboard",
		"tooltip":     "The 90 days up to the newest day loaded, wherever it lies in time",
		"url":         fmt.Sprintf("/d/%s?from=${data_from}&to=${data_to}&${branch:queryparam}", uid),
		"targetBlank": false, "keepTime": false, "includeVars": false, "asDropdown": false, "tags": []string{},
	}}
	return variables, links
}

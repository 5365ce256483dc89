package grafana

import "fmt"

// A dashboard opens on the last 90 days to now, which holds nothing when
// the warehouse's history is older (a backfilled archive, the sample data).
// The dashboards of sales carry a link, "Open on the newest loaded data",
// whose range hidden variables read from the marts each time the
// dashboard loads: the 90 days up to the newest loaded day (or from the
// first, when there are fewer), wherever they lie in time.

// rangeVariables are the hidden variables the link is made of: data_from
// and data_to in epoch milliseconds, as Grafana's from= and to= take them,
// and newest_day for the link's title.
var rangeVariables = []struct{ Name, SQL string }{
	{"data_from", `SELECT (extract(epoch FROM greatest(min(sales_date), max(sales_date) - 89)::timestamp) * 1000)::bigint::text FROM marts.branch_daily_sales`},
	{"data_to", `SELECT (extract(epoch FROM (max(sales_date) + 1)::timestamp) * 1000)::bigint::text FROM marts.branch_daily_sales`},
	{"newest_day", `SELECT max(sales_date)::text FROM marts.branch_daily_sales`},
}

// DataLinkTitle is the title of the link that opens a dashboard on the
// newest loaded data.
const DataLinkTitle = "Open on the newest loaded data (to ${newest_day})"

func dataRange(uid string, ds map[string]any) (variables, links []any) {
	for _, v := range rangeVariables {
		variables = append(variables, map[string]any{
			"name": v.Name, "type": "query", "datasource": ds, "query": v.SQL, "definition": v.SQL,
			"hide": 2, "refresh": 1, "multi": false, "includeAll": false, "skipUrlSync": true,
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

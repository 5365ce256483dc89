package grafana

import (
	"fmt"
	"strings"
)

// A dashboard opens on the last 90 days to now, which holds nothing when
// the warehouse's history is older (a backfilled archive, the sample data).
// So the panels of a dashboard with a data link are shifted in time by a
// hidden variable, data_shift, read from the declared table whenever the
// range changes: when the range starts after the newest loaded day, the
// days from that day to today ("1736d"; Grafana shows "timeshift -1736d" in
// each panel's header), else 0d. They open on the data wherever it lies in
// time, and a range that holds data is shown as chosen. A link, "Open on
// the newest loaded data", sets the dashboard's own range to the 90 days up
// to that day.

// ShiftVariable is the variable every panel of a dashboard with a data
// link is shifted by (the panel's timeShift).
const ShiftVariable = "data_shift"

// rangeVariable is a hidden variable of the data link: its SQL, with
// TABLE and DAY for the declared table and date column.
type rangeVariable struct {
	Name, SQL string
	Refresh   int
}

// rangeVariables are data_shift; data_from and data_to, the link's range
// in epoch milliseconds as Grafana's from= and to= take them; and
// newest_day for the link's title. Refresh 2 reads them again whenever the
// range changes, 1 when the dashboard loads.
var rangeVariables = []rangeVariable{
	{ShiftVariable, `SELECT CASE WHEN max(DAY) < $__timeFrom()::date THEN current_date - max(DAY) - 1 ELSE 0 END || 'd' FROM TABLE`, 2},
	{"data_from", `SELECT (extract(epoch FROM greatest(min(DAY), max(DAY) - 89)::timestamp) * 1000)::bigint::text FROM TABLE`, 1},
	{"data_to", `SELECT (extract(epoch FROM (max(DAY) + 1)::timestamp) * 1000)::bigint::text FROM TABLE`, 1},
	{"newest_day", `SELECT max(DAY)::text FROM TABLE`, 1},
}

// DataLinkTitle is the title of the link that opens a dashboard on the
// newest loaded data.
const DataLinkTitle = "Open on the newest loaded data (to ${newest_day})"

func (d *Dashboard) dataRange(ds map[string]any) (variables, links []any) {
	// The names are plain (check), so they go in unquoted.
	sqlOf := strings.NewReplacer("DAY", d.DataLink.Column, "TABLE", d.DataLink.Table)
	for _, v := range rangeVariables {
		sql := sqlOf.Replace(v.SQL)
		variables = append(variables, map[string]any{
			"name": v.Name, "type": "query", "datasource": ds, "query": sql, "definition": sql,
			"hide": 2, "refresh": v.Refresh, "multi": false, "includeAll": false, "skipUrlSync": true,
		})
	}
	// The link keeps the reader's choice of each filter.
	var keep strings.Builder
	for _, v := range d.Variables {
		fmt.Fprintf(&keep, "&${%s:queryparam}", v.Name)
	}
	links = []any{map[string]any{
		"title": DataLinkTitle, "type": "link", "icon": "dashboard",
		"tooltip":     "The 90 days up to the newest day loaded, wherever it lies in time",
		"url":         fmt.Sprintf("/d/%s?from=${data_from}&to=${data_to}%s", d.UID, keep.String()),
		"targetBlank": false, "keepTime": false, "includeVars": false, "asDropdown": false, "tags": []string{},
	}}
	return variables, links
}

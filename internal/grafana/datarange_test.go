package grafana

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDashboardsOpenOnData: the sample data ends on 2022-03-03, years
// before now, so the dashboards' default range (the last 90 days) holds
// none of it. Each sales dashboard's link, made of its hidden variables as
// the read-only role reads them, opens it on the 90 days up to the newest
// loaded day, and there every panel has rows; the pipeline-health
// dashboard's delivery grid shows the newest days wherever they lie.
func TestDashboardsOpenOnData(t *testing.T) {
	ctx := context.Background()
	_, reader := warehouse(t)
	newest := time.Date(2022, 3, 3, 0, 0, 0, 0, time.UTC)
	files := readDashboards(t)
	for _, d := range Dashboards {
		f := files[d.Title]
		t.Run(d.Title, func(t *testing.T) {
			if f.Time.From != "now-90d" {
				t.Fatalf("time from %q: the test expects the default range now-90d", f.Time.From)
			}
			if !d.DataLink {
				if len(f.Links) != 0 {
					t.Errorf("links %+v, want none", f.Links)
				}
				for _, p := range f.Panels {
					if strings.HasPrefix(p.Title, "Deliveries by branch and day") && panelRows(t, reader, expandRange(p.Targets[0].RawSQL, "now() - interval '90 days'", "now()")) == 0 {
						t.Errorf("%s: no rows on the default range", p.Title)
					}
				}
				return
			}
			if len(f.Links) != 1 || f.Links[0].Title != DataLinkTitle {
				t.Fatalf("links %+v, want one titled %q", f.Links, DataLinkTitle)
			}
			vars := map[string]string{}
			for _, v := range f.Templating.List[1:] {
				var s *string
				if err := reader.QueryRow(ctx, v.Query).Scan(&s); err != nil || s == nil {
					t.Fatalf("variable %s: %v (%v)\n%s", v.Name, s, err, v.Query)
				}
				vars[v.Name] = *s
			}
			if vars["newest_day"] != newest.Format(time.DateOnly) {
				t.Errorf("newest_day %q, want %s", vars["newest_day"], newest.Format(time.DateOnly))
			}
			link := regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(f.Links[0].URL, func(m string) string { return vars[m[2:len(m)-1]] })
			link = strings.ReplaceAll(link, "&${branch:queryparam}", "")
			u, err := url.Parse(link)
			if err != nil || u.Path != "/d/"+d.UID {
				t.Fatalf("link %q: %v, want /d/%s", link, err, d.UID)
			}
			from, to := millis(t, u.Query().Get("from")), millis(t, u.Query().Get("to"))
			if !to.Equal(newest.AddDate(0, 0, 1)) || !from.Equal(newest.AddDate(0, 0, -89)) {
				t.Errorf("the link opens %s … %s, want the 90 days to %s", from, to, newest.Format(time.DateOnly))
			}
			for _, p := range f.Panels {
				sql := p.Targets[0].RawSQL
				if n := panelRows(t, reader, expandRange(sql, lit(from), lit(to))); n == 0 {
					t.Errorf("%s: no rows in the link's range", p.Title)
				}
				if n := panelRows(t, reader, expandRange(sql, "now() - interval '90 days'", "now()")); n != 0 {
					t.Errorf("%s: %d rows in the last 90 days: the sample data must be older for this test to mean anything", p.Title, n)
				}
			}
		})
	}
}

func millis(t *testing.T, s string) time.Time {
	t.Helper()
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not epoch milliseconds", s)
	}
	return time.UnixMilli(ms).UTC()
}

func lit(t time.Time) string { return "'" + t.Format(time.RFC3339) + "'" }

// expandRange does what Grafana does to a panel's SQL for the range from
// … to (SQL expressions), every branch selected.
func expandRange(sql, from, to string) string {
	sql = timeFilter.ReplaceAllString(sql, fmt.Sprintf("$1 BETWEEN %s AND %s", from, to))
	return strings.ReplaceAll(sql, "IN ($branch)", "IN (SELECT branch FROM marts.branch_daily_sales)")
}

// panelRows counts the rows of sql that hold a value.
func panelRows(t *testing.T, db *pgxpool.Pool, sql string) int {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	defer rows.Close()
	n := 0 // rows with a value: an aggregate of nothing is one row of nulls
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if v != nil {
				n++
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

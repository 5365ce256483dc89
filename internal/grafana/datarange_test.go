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
// none of it. On first open, each panel of the sales dashboards is shifted
// by data_shift, as the read-only role reads it for that range, onto the
// 90 days up to the newest loaded day, and has rows there; on a range that
// holds data, it is not shifted. Each one's link, made of its hidden
// variables, opens it on those 90 days, and there every panel has rows too.
// The pipeline-health dashboard's delivery grid shows the newest days
// wherever they lie.
func TestDashboardsOpenOnData(t *testing.T) {
	ctx := context.Background()
	_, reader := warehouse(t)
	newest := time.Date(2022, 3, 3, 0, 0, 0, 0, time.UTC)
	files := readDashboards(t)
	for _, d := range cafe(t).Dashboards {
		f := files[d.Title]
		t.Run(d.Title, func(t *testing.T) {
			if f.Time.From != "now-90d" {
				t.Fatalf("time from %q: the test expects the default range now-90d", f.Time.From)
			}
			if d.DataLink == nil {
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
			variable := func(name, from string) string {
				t.Helper()
				for _, v := range f.Templating.List[1:] {
					if v.Name == name {
						var s *string
						sql := strings.ReplaceAll(v.Query, "$__timeFrom()", from)
						if err := reader.QueryRow(ctx, sql).Scan(&s); err != nil || s == nil {
							t.Fatalf("variable %s: %v (%v)\n%s", v.Name, s, err, sql)
						}
						return *s
					}
				}
				t.Fatalf("no variable %s", name)
				return ""
			}
			for _, name := range []string{"data_from", "data_to", "newest_day"} {
				vars[name] = variable(name, "")
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
			// First open: the last 90 days to now, each panel shifted.
			now := time.Now().UTC()
			shift := variable(ShiftVariable, lit(now.AddDate(0, 0, -90)))
			today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
			if want := fmt.Sprintf("%dd", int(today.Sub(newest).Hours()/24)-1); shift != want {
				t.Fatalf("data_shift on the last 90 days: %q, want %q", shift, want)
			}
			if s := variable(ShiftVariable, lit(from)); s != "0d" {
				t.Errorf("data_shift on the link's range, which holds data: %q, want 0d", s)
			}
			days, _ := strconv.Atoi(strings.TrimSuffix(shift, "d"))
			for _, p := range f.Panels {
				if p.TimeShift != "$"+ShiftVariable {
					t.Errorf("%s: timeShift %q, want $%s", p.Title, p.TimeShift, ShiftVariable)
				}
				first := expandRange(p.Targets[0].RawSQL, lit(now.AddDate(0, 0, -90-days)), lit(now.AddDate(0, 0, -days)))
				if n := panelRows(t, reader, first); n == 0 {
					t.Errorf("%s: no rows on first open, shifted by %s", p.Title, shift)
				}
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

package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// withExpect is valid with a branch column, a day, and expect set to e
// (at line 9), freshness at line 10.
func withExpect(e string) string {
	s := strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        expect: "+e+"\n        freshness: {warn_after: 26h, error_after: 50h}\n", 1)
	s = strings.Replace(s, `layouts: ["%d/%m/%Y %H:%M"]`, `layouts: ["%d/%m/%Y %H:%M"]
            date: day
          - name: branch`, 1)
	return s
}

func TestExpect(t *testing.T) {
	tests := []struct {
		name, expect string
		ended        string
		retired      []string
	}{
		{"every group expected", "{every: day, per: branch}", "", nil},
		{"retired groups", "{every: day, per: branch, retired: [York, Isle of Wight]}", "", []string{"York", "Isle of Wight"}},
		{"an end", "{every: day, per: branch, ended: 2022-03-03}", "2022-03-03", nil},
		{"a block", "\n          every: day\n          per: branch\n          retired:\n            - Leeds\n          ended: 2023-01-31", "2023-01-31", []string{"Leeds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("pipelines.yaml", []byte(withExpect(tt.expect)))
			if err != nil {
				t.Fatal(err)
			}
			e := f.Pipelines["cafe"].Sources["tx"].Expect
			if got := e.Ended.Format(time.DateOnly); (tt.ended == "") != e.Ended.IsZero() || (tt.ended != "" && got != tt.ended) {
				t.Errorf("ended: got %s, want %q", got, tt.ended)
			}
			if !slices.Equal([]string(e.Retired), tt.retired) || e.Severity != "warn" {
				t.Errorf("got retired %q, severity %q; want %q, warn", e.Retired, e.Severity, tt.retired)
			}
		})
	}
}

func TestExpectErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"active_days is refused, saying what replaces it", withExpect("{every: day, per: branch, active_days: 14}"),
			"pipelines.yaml:9: source tx: expect: active_days is no longer read: a group that has delivered stays expected; list the ones that stopped for good in expect: retired:"},
		{"active_days in a block, at its own line", withExpect("\n          every: day\n          per: branch\n          active_days: 14"),
			"pipelines.yaml:12: source tx: expect: active_days is no longer read"},
		{"an end that is not a day", withExpect("{every: day, per: branch, ended: 31/03/2022}"), `pipelines.yaml:9: "31/03/2022" is not a day such as 2022-03-31`},
		{"a group retired twice", withExpect("{every: day, per: branch, retired: [York, York]}"), `pipelines.yaml:9: source tx: expect: retired: "York" is empty or listed twice`},
		{"retired not a list", withExpect("{every: day, per: branch, retired: York}"), "pipelines.yaml:9: retired must be a list of the groups that stopped for good, such as [York, Leeds]"},
		{"a misspelt key", withExpect("{every: day, per: branch, retierd: [York]}"), `pipelines.yaml:9: unknown key "retierd" in expect`},
		{"per a column the source lacks", withExpect("{every: day, per: shop}"), `pipelines.yaml:9: source tx: expect: per names "shop"`},
		{"per an optional column", strings.Replace(withExpect("{every: day, per: branch}"), "          - name: branch", "          - name: branch\n            optional: true", 1),
			`pipelines.yaml:9: source tx: expect: per names "branch", an optional column`},
		{"success_within not a duration", strings.Replace(withExpect("{every: day, per: branch}"), "    models: models\n", "    models: models\n    success_within: daily\n", 1),
			`pipelines.yaml:5: "daily" is not a duration such as 26h or 2d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("pipelines.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunDue(t *testing.T) {
	f, err := Parse("pipelines.yaml", []byte(strings.Replace(valid, "    models: models\n", "    models: models\n    success_within: 2d\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Pipelines["cafe"].RunDue(); got != 48*time.Hour {
		t.Errorf("success_within: 2d: got %s, want 48h", got)
	}
	f, err = Parse("pipelines.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Pipelines["cafe"].RunDue(); got != 26*time.Hour {
		t.Errorf("no success_within: got %s, want the default 26h", got)
	}
}

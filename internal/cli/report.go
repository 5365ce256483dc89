package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/project"
)

// runReport is a run or load as one JSON object: what --output json prints
// and what PERCOLATE_NOTIFY_URL receives.
type runReport struct {
	RunID    int64   `json:"run_id"`
	Pipeline string  `json:"pipeline"`
	Command  string  `json:"command"`
	ExitCode int     `json:"exit_code"`
	Error    string  `json:"error,omitempty"` // why it did not exit 0
	Seconds  float64 `json:"seconds"`
	Files    struct {
		Loaded         int `json:"loaded"`
		Replaced       int `json:"replaced"`
		Skipped        int `json:"skipped"`
		Refused        int `json:"refused"`
		RefusedEarlier int `json:"refused_earlier"`
		Failed         int `json:"failed"`
	} `json:"files"`
	Refused []refusal `json:"refused"`
	Rows    struct {
		Loaded   int64 `json:"loaded"`
		Items    int64 `json:"items"`
		Rejected int64 `json:"rejected"` // of the files that loaded, as percolate rejects lists them
		Refused  int64 `json:"in_refused_files"`
	} `json:"rows"`
	Models struct {
		Built   []builtModel `json:"built"`
		Skipped []string     `json:"skipped"`
	} `json:"models"`
	Checks       []build.CheckResult   `json:"checks"`
	Expectations []project.Expectation `json:"expectations"`
}

type refusal struct {
	Path   string `json:"path"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

type builtModel struct {
	Model   string  `json:"model"`
	Rows    int64   `json:"rows"` // -1 for a view
	Seconds float64 `json:"seconds"`
	Reason  string  `json:"reason"`
}

// report describes a run that ended with err (nil: exit 0).
func (a *app) report(command string, s *project.Summary, err error) *runReport {
	r := &runReport{Command: command, Refused: []refusal{}, Checks: []build.CheckResult{}, Expectations: []project.Expectation{}}
	r.Models.Built, r.Models.Skipped = []builtModel{}, []string{}
	if err != nil {
		err = a.explain(err)
		r.ExitCode, r.Error = a.exitCode(err), err.Error()
	}
	if s == nil {
		return r
	}
	r.RunID, r.Pipeline, r.Seconds = s.RunID, s.Pipeline, s.Duration.Seconds()
	f := &r.Files
	f.Loaded, f.Replaced, f.Skipped = s.Count(project.Loaded), s.Count(project.Replaced), s.Count(project.Skipped)
	f.Refused, f.RefusedEarlier, f.Failed = s.Count(project.Refused), s.Count(project.RefusedEarlier), s.Count(project.Failed)
	for _, fl := range s.Files {
		if fl.Status == project.Refused || fl.Status == project.Failed || fl.Status == project.RefusedEarlier {
			r.Refused = append(r.Refused, refusal{Path: fl.Path, Status: string(fl.Status), Reason: errText(fl.Err)})
		}
	}
	r.Rows.Loaded, r.Rows.Items, r.Rows.Rejected = s.Rows()
	r.Rows.Refused = s.RefusedRows()
	if b := s.Build; b != nil {
		built := map[string]bool{}
		for _, m := range b.Built {
			built[m.Model.Name] = true
			r.Models.Built = append(r.Models.Built, builtModel{Model: m.Model.Name, Rows: m.Rows, Seconds: m.Duration.Seconds(), Reason: m.Reason})
		}
		for _, st := range b.Plan.Steps {
			if !built[st.Name] {
				r.Models.Skipped = append(r.Models.Skipped, st.Name)
			}
		}
		r.Checks = append(r.Checks, b.Checks...)
	}
	if s.Expectations != nil {
		r.Expectations = s.Expectations
	}
	return r
}

// notify posts the report to url when the run did not exit 0 or found an
// expectation of severity error unmet: a few tries, each bounded; a
// failure to tell is a warning, never the run's failure.
func (a *app) notify(ctx context.Context, url string, r *runReport) {
	if url == "" || (r.ExitCode == 0 && project.Unmet(r.Expectations) == nil) {
		return
	}
	body, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(a.stderr, "percolate: warning: notify: %v\n", err)
		return
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for attempt, wait := 0, 200*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		if attempt > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
		req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			last = err
			break
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
	}
	fmt.Fprintf(a.stderr, "percolate: warning: could not tell %s (%s) that the run failed: %v\n", EnvNotifyURL, url, last)
}

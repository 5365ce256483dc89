package ledger

import (
	"context"
	"fmt"
	"time"
)

// Expectation is an expectation of a source's deliveries that was not
// met (see package delivery).
type Expectation struct {
	Source   string `json:"source"`
	Kind     string `json:"kind"` // missing, stale, volume
	Group    string `json:"group"`
	Date     string `json:"date"`
	Severity string `json:"severity"` // warn, error
	Detail   string `json:"detail"`
}

func (e Expectation) String() string {
	what := e.Kind
	if e.Group != "" { // a finding of the whole source (silent) has none
		what += " " + e.Group
	}
	return fmt.Sprintf("%s: %s %s [%s]: %s", e.Source, what, e.Date, e.Severity, e.Detail)
}

// RecordSourceCheck records a check of the sources' deliveries as of a
// day, by a run (runID, or 0 for check-sources), and what it found.
func (Store) RecordSourceCheck(ctx context.Context, q Querier, runID int64, asOf time.Time, found []Expectation) error {
	n := len(found)
	sources, kinds, groups, days, severities, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range found {
		sources[i], kinds[i], groups[i], days[i], severities[i], details[i] = e.Source, e.Kind, e.Group, e.Date, e.Severity, e.Detail
	}
	_, err := q.Exec(ctx, `WITH c AS (
		    INSERT INTO percolate.source_checks (run_id, as_of) VALUES (NULLIF($1, 0), $2) RETURNING check_id
		)
		INSERT INTO percolate.expectations (check_id, source, kind, group_value, day, severity, detail)
		SELECT c.check_id, e.* FROM c, unnest($3::text[], $4::text[], $5::text[], $6::date[], $7::text[], $8::text[]) AS e`,
		runID, asOf, sources, kinds, groups, days, severities, details)
	return wrap("record source check", err)
}

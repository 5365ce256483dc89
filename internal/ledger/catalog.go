package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckResult is the last result of one check of a model.
type CheckResult struct {
	Model, Name string
	Failures    int64
	At          time.Time
	RunID       int64 // 0 for a check run outside a run
}

// LastChecks returns each model's checks' latest results, by model and
// check name.
func (Store) LastChecks(ctx context.Context, q Querier) (map[string]map[string]CheckResult, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT ON (model, check_name) model, check_name, failures, checked_at, coalesce(run_id, 0)
		FROM percolate.check_results ORDER BY model, check_name, checked_at DESC`)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CheckResult])
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]CheckResult{}
	for _, c := range all {
		if out[c.Model] == nil {
			out[c.Model] = map[string]CheckResult{}
		}
		out[c.Model][c.Name] = c
	}
	return out, nil
}

// SourceFiles counts a source's files in the manifest by status.
type SourceFiles struct {
	Source                    string
	Loaded, Replaced, Refused int64
	RowsLoaded, RowsRejected  int64
	Last                      time.Time
}

// FileCounts returns the manifest's counts, by source.
func (Store) FileCounts(ctx context.Context, q Querier) (map[string]SourceFiles, error) {
	rows, err := q.Query(ctx, `SELECT source,
		    count(*) FILTER (WHERE status = 'loaded'), count(*) FILTER (WHERE status = 'replaced'),
		    count(*) FILTER (WHERE status = 'refused'),
		    coalesce(sum(rows_loaded) FILTER (WHERE status = 'loaded'), 0)::bigint,
		    coalesce(sum(rows_rejected) FILTER (WHERE status = 'loaded'), 0)::bigint,
		    max(loaded_at)
		FROM percolate.files GROUP BY source`)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SourceFiles])
	if err != nil {
		return nil, err
	}
	out := map[string]SourceFiles{}
	for _, s := range all {
		out[s.Source] = s
	}
	return out, nil
}

// LastSourceCheck returns the day the latest check of the deliveries was
// made as of, and what it found; a zero day when none was made.
func (Store) LastSourceCheck(ctx context.Context, q Querier) (time.Time, []Expectation, error) {
	var id int64
	var asOf time.Time
	err := q.QueryRow(ctx, `SELECT check_id, as_of FROM percolate.source_checks ORDER BY check_id DESC LIMIT 1`).Scan(&id, &asOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil, nil
	}
	if err != nil {
		return asOf, nil, err
	}
	rows, err := q.Query(ctx, `SELECT source, kind, group_value, day::text, severity, detail
		FROM percolate.expectations WHERE check_id = $1 ORDER BY source, day, kind, group_value`, id)
	if err != nil {
		return asOf, nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Expectation])
	return asOf, found, err
}

// RunRecord is a run as the ledger holds it.
type RunRecord struct {
	ID                        int64
	Pipeline, Command, Status string
	Started                   time.Time
	Finished                  *time.Time
	FilesLoaded               int64
	RowsLoaded, RowsRejected  int64
	ModelsBuilt               int64
	Error                     string
}

// Runs returns the latest limit runs of pipeline, newest first.
func (Store) Runs(ctx context.Context, q Querier, pipeline string, limit int) ([]RunRecord, error) {
	rows, err := q.Query(ctx, `SELECT run_id, pipeline, command, status, started_at, finished_at,
		    files_loaded::bigint, rows_loaded, rows_rejected, models_built::bigint, coalesce(error, '')
		FROM percolate.runs WHERE pipeline = $1 ORDER BY run_id DESC LIMIT $2`, pipeline, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[RunRecord])
}

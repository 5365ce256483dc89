package ledger

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Run statuses.
const (
	RunRunning = "running"
	RunOK      = "ok"
	RunFailed  = "failed"
	// RunInterrupted is a run stopped on purpose (SIGINT, SIGTERM) at a
	// safe point: not a failure.
	RunInterrupted = "interrupted"
	// RunAbandoned is a run that never recorded its end (killed, or its
	// server crashed), closed by a later run.
	RunAbandoned = "abandoned"
)

// RunOutcome is how a run ended, with its counts.
type RunOutcome struct {
	ID           int64
	Status       string // RunOK, RunFailed or RunInterrupted
	FilesLoaded  int
	FilesSkipped int
	RowsLoaded   int64
	RowsRejected int64
	ModelsBuilt  int
	Error        string
}

// StartRun records a run of command on pipeline and returns its id.
func (Store) StartRun(ctx context.Context, q Querier, pipeline, command string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO percolate.runs (pipeline, command) VALUES ($1, $2) RETURNING run_id`, pipeline, command).Scan(&id)
	if err != nil {
		return 0, wrap("record the run's start", err)
	}
	return id, nil
}

// FinishRun records how a run ended.
func (Store) FinishRun(ctx context.Context, q Querier, o RunOutcome) error {
	_, err := q.Exec(ctx, `UPDATE percolate.runs SET finished_at = now(), status = $2, files_loaded = $3, files_skipped = $4,
		rows_loaded = $5, rows_rejected = $6, models_built = $7, error = NULLIF($8, '') WHERE run_id = $1`,
		o.ID, o.Status, o.FilesLoaded, o.FilesSkipped, o.RowsLoaded, o.RowsRejected, o.ModelsBuilt, o.Error)
	return wrap("finish run", err)
}

// CloseAbandoned marks every run still recorded as running abandoned, with
// the files, rows and model builds it committed counted from the manifest
// and the builds' record, and returns their ids. Call it holding the run
// lock: then no run is alive to be running.
func (Store) CloseAbandoned(ctx context.Context, q Querier) ([]int64, error) {
	rows, err := q.Query(ctx, `UPDATE percolate.runs AS r SET status = $1,
		    finished_at = coalesce(greatest(f.last, b.last), r.started_at),
		    files_loaded = coalesce(f.files, 0), rows_loaded = coalesce(f.rows, 0), rows_rejected = coalesce(f.rejected, 0),
		    models_built = coalesce(b.models, 0),
		    error = 'the run never recorded its end (killed, or its server stopped); closed by a later run'
		FROM percolate.runs AS o
		LEFT JOIN LATERAL (SELECT count(*)::int AS files, sum(rows_loaded) AS rows, sum(rows_rejected) AS rejected, max(loaded_at) AS last
		    FROM percolate.files WHERE run_id = o.run_id AND status IN ('loaded', 'replaced')) AS f ON true
		LEFT JOIN LATERAL (SELECT count(*)::int AS models, max(finished_at) AS last
		    FROM percolate.model_builds WHERE run_id = o.run_id) AS b ON true
		WHERE r.run_id = o.run_id AND r.status = $2
		RETURNING r.run_id`, RunAbandoned, RunRunning)
	if err == nil {
		var ids []int64
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err == nil {
			return ids, nil
		}
	}
	return nil, wrap("close the runs that never ended", err)
}

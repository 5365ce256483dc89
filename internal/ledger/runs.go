package ledger

import "context"

// Run statuses.
const (
	RunOK     = "ok"
	RunFailed = "failed"
)

// RunOutcome is how a run ended, with its counts.
type RunOutcome struct {
	ID           int64
	Status       string // RunOK or RunFailed
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
	return id, err
}

// FinishRun records how a run ended.
func (Store) FinishRun(ctx context.Context, q Querier, o RunOutcome) error {
	_, err := q.Exec(ctx, `UPDATE percolate.runs SET finished_at = now(), status = $2, files_loaded = $3, files_skipped = $4,
		rows_loaded = $5, rows_rejected = $6, models_built = $7, error = NULLIF($8, '') WHERE run_id = $1`,
		o.ID, o.Status, o.FilesLoaded, o.FilesSkipped, o.RowsLoaded, o.RowsRejected, o.ModelsBuilt, o.Error)
	return err
}

package ledger

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Build is one model built by a run.
type Build struct {
	Model           string
	Version         string // of the model and its parents
	OwnVersion      string // of the model alone
	Materialization string
	Rows            int64 // -1 for a view
	Started         time.Time
	Finished        time.Time
	// Inputs fingerprints the source data the build read (see SourceStates).
	Inputs string
	// Watermark is the newest load the build had seen.
	Watermark int64
	// Columns are the model's column versions; nil for builds recorded
	// before they were.
	Columns map[string]string
}

// LastBuild is a model's most recent build, and whether its relation
// exists now.
type LastBuild struct {
	Build
	Exists bool
}

// LastBuilds returns every model's most recent build, by model name.
func (Store) LastBuilds(ctx context.Context, q Querier) (map[string]LastBuild, error) {
	// column_versions through to_jsonb: plan and diff read the ledger
	// before a run has applied the migration that adds it.
	rows, err := q.Query(ctx, `SELECT DISTINCT ON (model) model, version, own_version, materialization, coalesce(rows, -1),
		    started_at, finished_at, inputs, watermark, to_jsonb(b) -> 'column_versions', to_regclass(model) IS NOT NULL
		FROM percolate.model_builds AS b ORDER BY model, finished_at DESC`)
	if err != nil {
		return nil, wrap("read last builds", err)
	}
	defer rows.Close()
	out := map[string]LastBuild{}
	for rows.Next() {
		var b LastBuild
		if err := rows.Scan(&b.Model, &b.Version, &b.OwnVersion, &b.Materialization, &b.Rows,
			&b.Started, &b.Finished, &b.Inputs, &b.Watermark, &b.Columns, &b.Exists); err != nil {
			return nil, wrap("read last builds", err)
		}
		out[b.Model] = b
	}
	return out, rows.Err()
}

// RecordBuild records a model built by run runID.
func (Store) RecordBuild(ctx context.Context, q Querier, runID int64, b Build) error {
	_, err := q.Exec(ctx, `INSERT INTO percolate.model_builds (run_id, model, version, own_version, materialization, rows, started_at, finished_at, inputs, watermark, column_versions)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, -1), $7, $8, $9, $10, $11)`,
		runID, b.Model, b.Version, b.OwnVersion, b.Materialization, b.Rows, b.Started, b.Finished, b.Inputs, b.Watermark, b.Columns)
	return wrap("record build", err)
}

// ResetIntervals records that an incremental model, just built whole at
// version, holds every day its sources have data for.
func (Store) ResetIntervals(ctx context.Context, q Querier, model, version string, runID int64, sources []string) error {
	if _, err := q.Exec(ctx, `DELETE FROM percolate.model_intervals WHERE model = $1`, model); err != nil {
		return wrap("reset intervals", err)
	}
	_, err := q.Exec(ctx, `INSERT INTO percolate.model_intervals (model, day, version, run_id)
		SELECT $2, day, $3, NULLIF($4, 0) FROM (`+loadedDays+`) AS loaded`, sources, model, version, runID)
	return wrap("reset intervals", err)
}

// AddIntervals records days of an incremental model rebuilt at version.
func (Store) AddIntervals(ctx context.Context, q Querier, model, version string, runID int64, days []string) error {
	_, err := q.Exec(ctx, `INSERT INTO percolate.model_intervals (model, day, version, run_id)
		SELECT $1, unnest($2::date[]), $3, NULLIF($4, 0)
		ON CONFLICT (model, day) DO UPDATE SET version = EXCLUDED.version, run_id = EXCLUDED.run_id, built_at = now()`,
		model, days, version, runID)
	return wrap("add intervals", err)
}

// Stale says which days of an incremental model to look for.
type Stale struct {
	Model   string
	Version string   // the model's version now
	Sources []string // the sources it reads, directly or not
	// Watermark is the newest load its last build saw: days of files
	// loaded or replaced after it are stale.
	Watermark int64
	// Versioned counts a day built at another version as a gap; From, when
	// not zero, limits those gaps to days on or after it.
	Versioned bool
	From      time.Time
	// Days, when not nil, holds the days any file has rows for, as
	// FileDays returns them (a plan asks once for all its models): the
	// days a gap is looked for among.
	Days []time.Time
}

// fileDays selects the days any file has rows for: it walks the distinct
// days of file_days by its index on day, a probe a day, where a DISTINCT
// read a row a file (3.65 M at ten years of a thousand files a day).
const fileDays = `WITH RECURSIVE days AS (
	    (SELECT day FROM percolate.file_days ORDER BY day LIMIT 1)
	    UNION ALL
	    SELECT (SELECT d.day FROM percolate.file_days d WHERE d.day > days.day ORDER BY d.day LIMIT 1)
	    FROM days WHERE days.day IS NOT NULL
	)
	SELECT day FROM days WHERE day IS NOT NULL`

// hasLoaded is the condition that a loaded file of the sources in $1 has
// rows on the day in column day.
const hasLoaded = `EXISTS (SELECT FROM percolate.file_days d JOIN percolate.files f USING (load_id)
	WHERE d.day = days.day AND f.source = ANY($1) AND f.status = 'loaded')`

// loadedDays selects the days the loaded files of the sources in $1 have
// rows for.
const loadedDays = `SELECT day FROM (` + fileDays + `) AS days WHERE ` + hasLoaded

// FileDays returns the days any file has rows for, sorted.
func (Store) FileDays(ctx context.Context, q Querier) ([]time.Time, error) {
	rows, err := q.Query(ctx, fileDays+` ORDER BY 1`)
	if err != nil {
		return nil, wrap("read the files' days", err)
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if days == nil && err == nil {
		days = []time.Time{}
	}
	return days, wrap("read the files' days", err)
}

// StaleDays returns the days of an incremental model to rebuild, sorted:
// those whose files arrived or were replaced since its last build, and
// days with data it holds no interval for (at its version, when
// s.Versioned). A gap is looked for among the days any file has: those
// without an interval first (by the intervals' key), then, of those few,
// the days a loaded file of its sources has.
func (st Store) StaleDays(ctx context.Context, q Querier, s Stale) ([]time.Time, error) {
	if s.Days == nil {
		var err error
		if s.Days, err = st.FileDays(ctx, q); err != nil {
			return nil, wrap("find stale days", err)
		}
	}
	rows, err := q.Query(ctx, `
		WITH gaps AS MATERIALIZED (
		    SELECT day FROM unnest($7::date[]) AS day
		    WHERE NOT $4 OR day >= $5
		    EXCEPT
		    SELECT day FROM percolate.model_intervals WHERE model = $3 AND (NOT $4 OR version = $6)
		)
		(SELECT d.day FROM percolate.file_days d JOIN percolate.files f USING (load_id)
		 WHERE f.source = ANY($1) AND f.load_id > $2
		 UNION
		 SELECT d.day FROM percolate.file_days d JOIN percolate.files f USING (load_id)
		 WHERE f.source = ANY($1) AND f.replaced_by > $2)
		UNION
		SELECT day FROM gaps AS days WHERE `+hasLoaded+`
		ORDER BY 1`, s.Sources, s.Watermark, s.Model, s.Versioned, s.From, s.Version, s.Days)
	if err != nil {
		return nil, wrap("find stale days", err)
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	return days, wrap("find stale days", err)
}

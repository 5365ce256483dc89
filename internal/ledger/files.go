package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// File is a file (or an object in a bucket) about to be loaded.
type File struct {
	RunID  int64 // 0 outside a recorded run
	Source string
	Path   string // as recorded: relative to the project when inside it
	Size   int64
	Hash   string  // of its content
	ETag   *string // for objects in a bucket
}

// ClaimFile records f as loading and returns its load id; claimed is false,
// and nothing is recorded, when its content is loaded for its source
// already (by an earlier run, or by another process meanwhile: a partial
// unique index on (source, content_hash) decides).
func (Store) ClaimFile(ctx context.Context, q Querier, f File) (loadID int64, claimed bool, err error) {
	err = q.QueryRow(ctx, `INSERT INTO percolate.files (run_id, source, path, size, content_hash, rows_loaded, rows_rejected, status, etag)
		VALUES (NULLIF($1, 0), $2, $3, $4, $5, 0, 0, 'loaded', $6)
		ON CONFLICT (source, content_hash) WHERE status = 'loaded' DO NOTHING
		RETURNING load_id`, f.RunID, f.Source, f.Path, f.Size, f.Hash, f.ETag).Scan(&loadID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return loadID, err == nil, err
}

// Loaded is what a claimed file turned out to hold.
type Loaded struct {
	LoadID   int64
	Source   string
	Path     string
	Days     []time.Time // the days its rows fall on
	Rows     int64       // rows loaded
	Rejected int64
}

// Retired is the earlier content of a path that a new file replaced: its
// loads, and the days they had rows for.
type Retired struct {
	LoadIDs []int64
	Days    []time.Time
}

// FinishFile records, in one statement, the days a claimed file has rows
// for, its counts, and the retirement of earlier content at the same path.
// It returns what it retired: the caller deletes those staging rows in the
// same transaction.
func (Store) FinishFile(ctx context.Context, q Querier, l Loaded) (Retired, error) {
	var r Retired
	err := q.QueryRow(ctx, `
		WITH days AS (
		    INSERT INTO percolate.file_days (load_id, day) SELECT $1, unnest($4::date[])
		), counts AS (
		    UPDATE percolate.files SET rows_loaded = $5, rows_rejected = $6 WHERE load_id = $1
		), retired AS (
		    UPDATE percolate.files SET status = 'replaced', replaced_by = $1
		    WHERE source = $2 AND path = $3 AND status = 'loaded' AND load_id <> $1
		    RETURNING load_id
		)
		SELECT coalesce(array_agg(load_id), '{}'),
		       coalesce((SELECT array_agg(DISTINCT day) FROM percolate.file_days WHERE load_id IN (SELECT load_id FROM retired)), '{}')
		FROM retired`,
		l.LoadID, l.Source, l.Path, l.Days, l.Rows, l.Rejected).Scan(&r.LoadIDs, &r.Days)
	return r, err
}

// LoadedHashes returns the content hashes of a source's loaded files.
func (Store) LoadedHashes(ctx context.Context, q Querier, source string) (map[string]bool, error) {
	rows, err := q.Query(ctx, `SELECT content_hash FROM percolate.files WHERE source = $1 AND status = 'loaded'`, source)
	if err != nil {
		return nil, err
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		have[h] = true
	}
	return have, nil
}

// HashByETag returns the content hash an object was loaded with, when it
// is listed under the same path with the ETag and size it had then.
func (Store) HashByETag(ctx context.Context, q Querier, source, path, etag string, size int64) (string, bool, error) {
	var sum string
	err := q.QueryRow(ctx, `SELECT content_hash FROM percolate.files
		WHERE source = $1 AND path = $2 AND etag = $3 AND size = $4 AND status = 'loaded'`,
		source, path, etag, size).Scan(&sum)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return sum, err == nil, err
}

// Watermark is the newest load id: builds record the one they saw, and
// files loaded after it are new data to them.
func (Store) Watermark(ctx context.Context, q Querier) (int64, error) {
	var w int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(load_id), 0) FROM percolate.files`).Scan(&w)
	return w, err
}

// SourceStates fingerprints, per source, the set of its files loaded: the
// fingerprint changes whenever a file is loaded or replaced.
func (Store) SourceStates(ctx context.Context, q Querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT source, count(*), coalesce(max(load_id), 0), coalesce(sum(load_id), 0)
		FROM percolate.files WHERE status = 'loaded' GROUP BY source`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var src string
		var n, hi, sum int64
		if err := rows.Scan(&src, &n, &hi, &sum); err != nil {
			return nil, err
		}
		out[src] = fmt.Sprintf("%d/%d/%d", n, hi, sum)
	}
	return out, rows.Err()
}

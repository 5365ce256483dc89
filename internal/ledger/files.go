package ledger

import (
	"context"
	"errors"
	"strconv"
	"strings"
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
	// Modified is a local file's modification time (zero for objects).
	Modified time.Time
	// LoadID, when not 0, is the id to record it under (see ReserveLoadIDs).
	LoadID int64
	// Contract is the fingerprint of the source contract it is read under.
	Contract string
}

// ClaimFile records f as loading and returns its load id; claimed is false,
// and nothing is recorded, when its content is loaded for its source under
// the same contract already (by an earlier run, or by another process
// meanwhile: a partial unique index on (source, content_hash, contract)
// decides).
func (s Store) ClaimFile(ctx context.Context, q Querier, f File) (loadID int64, claimed bool, err error) {
	ids, err := s.ClaimFiles(ctx, q, []File{f})
	for id := range ids {
		return id, true, err
	}
	return 0, false, err
}

// ReserveLoadIDs takes n load ids for files about to be claimed, so that
// their rows can be encoded before the transaction that claims them.
func (Store) ReserveLoadIDs(ctx context.Context, q Querier, n int) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT nextval(pg_get_serial_sequence('percolate.files', 'load_id')) FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, wrap("reserve load ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, wrap("reserve load ids", err)
}

// ClaimFiles records files as loading, under the load ids they carry (a
// new one for a file without), and returns the ids it recorded: a file
// whose content is loaded for its source already (or twice in files) is
// left out.
func (Store) ClaimFiles(ctx context.Context, q Querier, files []File) (map[int64]bool, error) {
	n := len(files)
	ids, runs, sources, paths, sizes, hashes := make([]int64, n), make([]int64, n), make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
	etags, modified, contracts := make([]*string, n), make([]*time.Time, n), make([]string, n)
	for i, f := range files {
		ids[i], runs[i], sources[i], paths[i], sizes[i], hashes[i], etags[i], contracts[i] = f.LoadID, f.RunID, f.Source, f.Path, f.Size, f.Hash, f.ETag, f.Contract
		if !f.Modified.IsZero() {
			modified[i] = &files[i].Modified
		}
	}
	rows, err := q.Query(ctx, `INSERT INTO percolate.files (load_id, run_id, source, path, size, content_hash, rows_loaded, rows_rejected, status, etag, modified_at, contract)
		SELECT coalesce(NULLIF(id, 0), nextval(pg_get_serial_sequence('percolate.files', 'load_id'))),
		       NULLIF(run, 0), source, path, size, hash, 0, 0, 'loaded', etag, modified, contract
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::timestamptz[], $9::text[])
		     AS f (id, run, source, path, size, hash, etag, modified, contract)
		ON CONFLICT (source, content_hash, contract) WHERE status = 'loaded' DO NOTHING
		RETURNING load_id`, ids, runs, sources, paths, sizes, hashes, etags, modified, contracts)
	if err != nil {
		return nil, wrap("claim files", err)
	}
	claimed, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	out := make(map[int64]bool, len(claimed))
	for _, id := range claimed {
		out[id] = true
	}
	return out, wrap("claim files", err)
}

// Loaded is what a claimed file turned out to hold.
type Loaded struct {
	LoadID   int64
	Source   string
	Path     string
	Days     []time.Time // the days its rows fall on
	Rows     int64       // rows loaded
	Rejected int64
	// Fingerprint tells the file's rows by their keys (see SameRows), or
	// is empty where keys do not tell rows.
	Fingerprint string
}

// Retired is what new files replaced: the earlier content of their paths,
// and their own content read under an older contract (a replay). It holds
// their loads and the days they had rows for.
type Retired struct {
	LoadIDs []int64
	Days    []time.Time
	By      []int64 // the loads that replaced them
}

// FinishFile records, in one statement, the days a claimed file has rows
// for, its counts, and the retirement of earlier content at the same path
// (loaded or refused) and of the same content loaded under another
// contract.
// It returns what it retired: the caller deletes those staging rows in the
// same transaction.
func (s Store) FinishFile(ctx context.Context, q Querier, l Loaded) (Retired, error) {
	return s.FinishFiles(ctx, q, []Loaded{l})
}

// FinishFiles is FinishFile for several files at once.
func (Store) FinishFiles(ctx context.Context, q Querier, loaded []Loaded) (Retired, error) {
	var ids, dayIDs, rows, rejected []int64
	var sources, paths, prints []string
	var days []time.Time
	for _, l := range loaded {
		ids, sources, paths, rows, rejected = append(ids, l.LoadID), append(sources, l.Source), append(paths, l.Path), append(rows, l.Rows), append(rejected, l.Rejected)
		prints = append(prints, l.Fingerprint)
		for _, d := range l.Days {
			dayIDs, days = append(dayIDs, l.LoadID), append(days, d)
		}
	}
	var r Retired
	err := q.QueryRow(ctx, `
		WITH days AS (
		    INSERT INTO percolate.file_days (load_id, day) SELECT * FROM unnest($1::bigint[], $2::date[])
		), counts AS (
		    UPDATE percolate.files f SET rows_loaded = n.rows, rows_rejected = n.rejected, rows_fingerprint = nullif(n.print, '')
		    FROM unnest($3::bigint[], $6::bigint[], $7::bigint[], $8::text[]) AS n (load_id, rows, rejected, print) WHERE f.load_id = n.load_id
		), older AS (
		    -- Each by an index: earlier content at the same path, and the
		    -- same content read under another contract (a replay).
		    SELECT o.load_id, n.load_id AS by
		    FROM unnest($3::bigint[], $4::text[], $5::text[]) AS n (load_id, source, path)
		    JOIN percolate.files o ON o.source = n.source AND o.path = n.path
		    UNION
		    SELECT o.load_id, nf.load_id
		    FROM percolate.files nf
		    JOIN percolate.files o ON o.source = nf.source AND o.content_hash = nf.content_hash AND o.contract <> nf.contract
		    WHERE nf.load_id = ANY ($3)
		), retired AS (
		    UPDATE percolate.files f SET status = 'replaced', replaced_by = older.by
		    FROM older
		    WHERE f.load_id = older.load_id AND f.status IN ('loaded', 'refused') AND f.load_id <> ALL ($3)
		    RETURNING f.load_id, f.replaced_by
		)
		SELECT coalesce(array_agg(load_id), '{}'),
		       coalesce((SELECT array_agg(DISTINCT day) FROM percolate.file_days WHERE load_id IN (SELECT load_id FROM retired)), '{}'),
		       coalesce(array_agg(DISTINCT replaced_by), '{}')
		FROM retired`,
		dayIDs, days, ids, sources, paths, rows, rejected, prints).Scan(&r.LoadIDs, &r.Days, &r.By)
	return r, wrap("finish files", err)
}

// SameRows returns, for the files of source at paths whose rows have the
// fingerprints (see Loaded), by path, the content hash of a file loaded
// at another path under contract with the same rows, key for key: the
// file is that one delivered again (re-encoded, or under a new name). A
// path that holds loaded or refused content is left out: new content
// there replaces the old, and is loaded.
func (Store) SameRows(ctx context.Context, q Querier, source, contract string, paths, fingerprints []string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT n.path, s.content_hash
		FROM unnest($2::text[], $3::text[]) AS n (path, print)
		CROSS JOIN LATERAL (
		    SELECT f.content_hash FROM percolate.files f
		    WHERE f.source = $1 AND f.rows_fingerprint = n.print AND f.status = 'loaded' AND f.contract = $4 AND f.path <> n.path
		    ORDER BY f.load_id LIMIT 1) AS s
		WHERE NOT EXISTS (SELECT FROM percolate.files o WHERE o.source = $1 AND o.path = n.path AND o.status IN ('loaded', 'refused'))`,
		source, paths, fingerprints, contract)
	if err != nil {
		return nil, wrap("files with the same rows", err)
	}
	out := map[string]string{}
	var path, hash string
	_, err = pgx.ForEachRow(rows, []any{&path, &hash}, func() error {
		out[path] = hash
		return nil
	})
	return out, wrap("files with the same rows", err)
}

// Known is what the manifest knows of a content (or of a local file by
// its path, size and modification time) that need not be read again:
// loaded, or refused, and why.
type Known struct {
	Refused bool
	Reason  string
}

// known is the condition on percolate.files f for a content that need not
// be read again under the contract in parameter c: loaded, unless rows of
// it were rejected under another contract; or refused under this one.
func known(c string) string {
	return `((f.status = 'loaded' AND (f.rows_rejected = 0 OR f.contract = ` + c + `)) OR (f.status = 'refused' AND f.contract = ` + c + `))`
}

// KnownHashes returns which of hashes need not be read again for source,
// whose contract now has the fingerprint contract (see Known).
func (Store) KnownHashes(ctx context.Context, q Querier, source, contract string, hashes []string) (map[string]Known, error) {
	rows, err := q.Query(ctx, `SELECT f.content_hash, f.status = 'refused', coalesce(f.reason, '') FROM percolate.files f
		WHERE f.source = $1 AND f.content_hash = ANY($2) AND `+known("$3"), source, hashes, contract)
	if err != nil {
		return nil, wrap("find known hashes", err)
	}
	known, err := collectKnown(rows)
	return known, wrap("find known hashes", err)
}

func collectKnown(rows pgx.Rows) (map[string]Known, error) {
	out := map[string]Known{}
	var key string
	var k Known
	_, err := pgx.ForEachRow(rows, []any{&key, &k.Refused, &k.Reason}, func() error {
		out[key] = k
		return nil
	})
	return out, err
}

// probeAtMost is the most files Unchanged and KnownPaths look up one by
// one, by an index probe apiece; past it, a scan of the source's recorded
// files matched here costs less.
const probeAtMost = 20_000

// Unchanged returns which of the local files of source are recorded at the
// same path with the same size and modification time, and need not be read
// again under contract (see Known): taken to be the same file, they are
// not read. A copy (see Touch) counts while the content it copies is
// known. A few files are looked up by path; the history's every file,
// listed every night, by one scan of the source's recorded local files.
func (st Store) Unchanged(ctx context.Context, q Querier, source, contract string, files []File) (map[string]Known, error) {
	listed := make(map[string]File, len(files))
	for _, f := range files {
		listed[f.Path] = f
	}
	out, err := st.recorded(ctx, q, source, contract, listed, func(r File, f File) bool {
		// A record without a time (an object's) is no local file's.
		return !r.Modified.IsZero() && f.Size == r.Size && f.Modified.Equal(r.Modified)
	})
	return out, wrap("find unchanged files", err)
}

// KnownPaths returns which of paths of a source whose files are never
// rewritten hold content that need not be read again under contract (see
// Known), by path alone: such a file, once read, is not read again.
func (st Store) KnownPaths(ctx context.Context, q Querier, source, contract string, paths []string) (map[string]Known, error) {
	listed := make(map[string]File, len(paths))
	for _, p := range paths {
		listed[p] = File{Path: p}
	}
	out, err := st.recorded(ctx, q, source, contract, listed, func(File, File) bool { return true })
	return out, wrap("find known paths", err)
}

// recorded returns which of the listed files of source are recorded (or
// recorded as a copy, see Touch) with content that need not be read again
// under contract (see Known), and that same says are the same file as the
// record (recorded, listed): by path, by an index probe apiece up to
// probeAtMost files, else by one scan of the source's records.
func (Store) recorded(ctx context.Context, q Querier, source, contract string, listed map[string]File, same func(recorded, listed File) bool) (map[string]Known, error) {
	out := map[string]Known{}
	if len(listed) == 0 {
		return out, nil
	}
	of, args := "", []any{source, contract}
	if len(listed) <= probeAtMost {
		paths := make([]string, 0, len(listed))
		for p := range listed {
			paths = append(paths, p)
		}
		of, args = " AND f.path = ANY($3)", append(args, paths)
	}
	rows, err := q.Query(ctx, `SELECT f.path, f.size, f.modified_at, f.status = 'refused', coalesce(f.reason, '') FROM percolate.files f
		WHERE f.source = $1 AND `+known("$2")+of+`
		UNION ALL
		SELECT c.path, c.size, c.modified_at, f.status = 'refused', coalesce(f.reason, '')
		FROM percolate.file_copies c JOIN percolate.files f ON f.source = c.source AND f.content_hash = c.content_hash
		WHERE c.source = $1 AND `+known("$2")+strings.ReplaceAll(of, "f.path", "c.path"), args...)
	if err != nil {
		return nil, err
	}
	var r File
	var modified *time.Time
	var k Known
	_, err = pgx.ForEachRow(rows, []any{&r.Path, &r.Size, &modified, &k.Refused, &k.Reason}, func() error {
		r.Modified = time.Time{}
		if modified != nil {
			r.Modified = *modified
		}
		if f, ok := listed[r.Path]; ok && same(r, f) {
			out[r.Path] = k
		}
		return nil
	})
	return out, err
}

// Touch records the size and modification time of local files read again
// and found known (touched, copied back from a backup, changed while an
// earlier load listed them, or delivered again under a new name): the next
// run trusts them instead of reading the files every night. A file known
// at its own path has its manifest entry brought up to date; one whose
// content was loaded from another path is recorded as a copy of it (see
// Unchanged). Each of files names its path, content hash, size and time.
func (Store) Touch(ctx context.Context, q Querier, source string, files []File) error {
	if len(files) == 0 {
		return nil
	}
	paths, hashes := make([]string, len(files)), make([]string, len(files))
	sizes, modified := make([]int64, len(files)), make([]time.Time, len(files))
	for i, f := range files {
		paths[i], hashes[i], sizes[i], modified[i] = f.Path, f.Hash, f.Size, f.Modified
	}
	_, err := q.Exec(ctx, `WITH n AS (
		    SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) AS n (path, hash, size, modified)
		), own AS (
		    UPDATE percolate.files f SET size = n.size, modified_at = n.modified
		    FROM n
		    WHERE f.source = $1 AND f.path = n.path AND f.content_hash = n.hash
		      AND f.status IN ('loaded', 'refused') AND (f.size, f.modified_at) IS DISTINCT FROM (n.size, n.modified)
		)
		INSERT INTO percolate.file_copies AS c (source, path, size, modified_at, content_hash)
		SELECT DISTINCT ON (n.path) $1, n.path, n.size, n.modified, n.hash FROM n
		WHERE NOT EXISTS (SELECT FROM percolate.files f WHERE f.source = $1 AND f.path = n.path
		                  AND f.content_hash = n.hash AND f.status IN ('loaded', 'refused'))
		ON CONFLICT (source, path) DO UPDATE
		SET size = excluded.size, modified_at = excluded.modified_at, content_hash = excluded.content_hash, seen_at = now()`,
		source, paths, hashes, sizes, modified)
	return wrap("touch files", err)
}

// Refusal is a file refused whole, recorded so that later runs pass over
// its content until it or its source's contract changes.
type Refusal struct {
	File
	Reason   string
	Rejected int64 // rows rejected, when that is why
}

// RecordRefused records a refused file by its content hash with the reason,
// in place of an earlier refusal of the same content, and retires the
// refusal of earlier content at its path.
func (Store) RecordRefused(ctx context.Context, q Querier, r Refusal) error {
	var modified *time.Time
	if !r.Modified.IsZero() {
		modified = &r.Modified
	}
	_, err := q.Exec(ctx, `WITH refused AS (
		    INSERT INTO percolate.files (run_id, source, path, size, content_hash, rows_loaded, rows_rejected, status, etag, modified_at, contract, reason)
		    VALUES (NULLIF($1, 0), $2, $3, $4, $5, 0, $6, 'refused', $7, $8, $9, $10)
		    ON CONFLICT (source, content_hash) WHERE status = 'refused' DO UPDATE
		    SET run_id = excluded.run_id, path = excluded.path, size = excluded.size, rows_rejected = excluded.rows_rejected,
		        etag = excluded.etag, modified_at = excluded.modified_at, contract = excluded.contract,
		        reason = excluded.reason, loaded_at = now()
		    RETURNING load_id
		)
		UPDATE percolate.files f SET status = 'replaced', replaced_by = refused.load_id FROM refused
		WHERE f.source = $2 AND f.path = $3 AND f.status = 'refused' AND f.load_id <> refused.load_id`,
		r.RunID, r.Source, r.Path, r.Size, r.Hash, r.Rejected, r.ETag, modified, r.Contract, r.Reason)
	return wrap("record refused", err)
}

// HashByETag returns the content hash an object was loaded with, when it
// is listed under the same path with the ETag and size it had then, or
// was read and found a copy of loaded content (see TouchObject).
func (Store) HashByETag(ctx context.Context, q Querier, source, path, etag string, size int64) (string, bool, error) {
	var sum string
	err := q.QueryRow(ctx, `SELECT content_hash FROM percolate.files
		WHERE source = $1 AND path = $2 AND etag = $3 AND size = $4 AND status IN ('loaded', 'refused')
		UNION ALL
		SELECT c.content_hash FROM percolate.object_copies c
		WHERE c.source = $1 AND c.path = $2 AND c.etag = $3 AND c.size = $4
		  AND EXISTS (SELECT FROM percolate.files f WHERE f.source = c.source AND f.content_hash = c.content_hash AND f.status IN ('loaded', 'refused'))
		LIMIT 1`,
		source, path, etag, size).Scan(&sum)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return sum, err == nil, wrap("find a hash by etag", err)
}

// TouchObject records an object read and found to hold content loaded
// from another path, or from its own under another ETag, with its ETag,
// size and content hash: the next run knows it by its listing (see
// HashByETag) instead of downloading it again. Local files are Touch's.
func (Store) TouchObject(ctx context.Context, q Querier, source string, f File) error {
	if f.ETag == nil || *f.ETag == "" {
		return nil // known only by reading it
	}
	// One known by its listing already (the night's every object) writes
	// nothing.
	_, err := q.Exec(ctx, `INSERT INTO percolate.object_copies AS c (source, path, etag, size, content_hash)
		SELECT $1, $2, $3, $4, $5
		WHERE NOT EXISTS (SELECT FROM percolate.files f WHERE f.source = $1 AND f.path = $2 AND f.etag = $3
		                  AND f.size = $4 AND f.content_hash = $5 AND f.status IN ('loaded', 'refused'))
		ON CONFLICT (source, path) DO UPDATE
		SET etag = excluded.etag, size = excluded.size, content_hash = excluded.content_hash, seen_at = now()
		WHERE (c.etag, c.size, c.content_hash) IS DISTINCT FROM (excluded.etag, excluded.size, excluded.content_hash)`,
		source, f.Path, *f.ETag, f.Size, f.Hash)
	return wrap("touch an object", err)
}

// Watermark is the newest load id: builds record the one they saw, and
// files loaded after it are new data to them.
func (Store) Watermark(ctx context.Context, q Querier) (int64, error) {
	var w int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(load_id), 0) FROM percolate.files`).Scan(&w)
	return w, wrap("read the watermark", err)
}

// SourceStates fingerprints, per source, the set of its files loaded: the
// newest load id among them. Loads only add to the set, and a file is
// replaced only by a load of new content, so the set never changes without
// a load of a new id; read by an index (a probe per source), where a count
// and sum of the ids read every file of the manifest (seconds at millions
// of files). See SameState for fingerprints recorded before.
func (Store) SourceStates(ctx context.Context, q Querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `WITH RECURSIVE sources AS (
		    (SELECT source FROM percolate.files WHERE status = 'loaded' ORDER BY source LIMIT 1)
		    UNION ALL
		    SELECT (SELECT f.source FROM percolate.files f WHERE f.status = 'loaded' AND f.source > s.source ORDER BY f.source LIMIT 1)
		    FROM sources s WHERE s.source IS NOT NULL
		)
		SELECT s.source, (SELECT max(f.load_id) FROM percolate.files f WHERE f.source = s.source AND f.status = 'loaded')
		FROM sources s WHERE s.source IS NOT NULL`)
	if err != nil {
		return nil, wrap("read source states", err)
	}
	out := map[string]string{}
	var src string
	var hi int64
	_, err = pgx.ForEachRow(rows, []any{&src, &hi}, func() error {
		out[src] = strconv.FormatInt(hi, 10)
		return nil
	})
	return out, wrap("read source states", err)
}

// SameState reports whether two fingerprints of a source's loaded files
// (see SourceStates) tell the same set: one recorded by an earlier
// release, count/newest/sum, by its newest load id.
func SameState(a, b string) bool {
	newest := func(s string) string {
		if parts := strings.Split(s, "/"); len(parts) == 3 {
			return parts[1]
		}
		return s
	}
	return newest(a) == newest(b)
}

// FileFilter picks manifest entries: of a source, with a status (empty:
// any), at most Limit of them.
type FileFilter struct {
	Source, Status string
	Limit          int
}

// Entry is a file as the manifest records it.
type Entry struct {
	LoadID   int64     `json:"load_id"`
	Source   string    `json:"source"`
	Path     string    `json:"path"`
	Status   string    `json:"status"`
	Size     int64     `json:"size"`
	Hash     string    `json:"content_hash"`
	Rows     int64     `json:"rows_loaded"`
	Rejected int64     `json:"rows_rejected"`
	At       time.Time `json:"recorded_at"`
	Reason   string    `json:"reason,omitempty"`
	Contract string    `json:"contract"`
}

// Files lists the manifest, newest first.
func (Store) Files(ctx context.Context, q Querier, f FileFilter) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT load_id, source, path, status, size, content_hash, rows_loaded, rows_rejected, loaded_at,
		       coalesce(reason, ''), contract
		FROM percolate.files WHERE ($1 = '' OR source = $1) AND ($2 = '' OR status = $2)
		ORDER BY load_id DESC LIMIT $3`, f.Source, f.Status, f.Limit)
	if err != nil {
		return nil, wrap("list files", err)
	}
	entries, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	return entries, wrap("list files", err)
}

// Outdated lists the files of source read under another contract than
// contract that it refused or rejected rows of: a run reads them again.
func (Store) Outdated(ctx context.Context, q Querier, source, contract string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT path FROM percolate.files
		WHERE source = $1 AND contract <> $2 AND (status = 'refused' OR status = 'loaded' AND rows_rejected > 0)
		ORDER BY path`, source, contract)
	if err != nil {
		return nil, wrap("list outdated files", err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return paths, wrap("list outdated files", err)
}

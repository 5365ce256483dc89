// Package loaders moves raw source files into staging: each file is read as
// a stream of Apache Arrow record batches under its source's contract
// (typed, personal data dropped, row keys hashed, nested lists exploded) and
// written with PostgreSQL's binary COPY, one transaction per file, recorded
// in the file manifest.
package loaders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/pg"
)

// Status is what became of a file.
type Status string

// File statuses.
const (
	Loaded   Status = "loaded"   // new content, rows in staging
	Replaced Status = "replaced" // new content at a known path: its old rows were replaced
	Skipped  Status = "skipped"  // this content was loaded before
	Refused  Status = "refused"  // too many rejects or not CSV: nothing of it stays
	Failed   Status = "failed"   // it could not be read (a bucket that kept failing): nothing of it stays
)

// SourceError is a file or object that could not be read: the file fails,
// the others go on.
type SourceError struct {
	Path string
	Err  error
}

func (e *SourceError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Result is the outcome of one file.
type Result struct {
	Source   string
	Path     string // as recorded: relative to the project when inside it
	Status   Status
	LoadID   int64
	Rows     int64 // data rows read, rejected ones included
	Loaded   int64
	Items    int64
	Rejected int64
	Rejects  []Reject // the first few, for messages
	Err      error    // why the file was refused
}

// RefusedError says why a file was refused whole.
type RefusedError struct {
	Path     string
	Rejected int64
	Rows     int64
	Max      string
	Reason   string
	First    []Reject
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: refused: %s", e.Path, e.Reason)
	for _, r := range e.First {
		fmt.Fprintf(&b, "\n  %s:%s", e.Path, strings.TrimPrefix(r.String(), "line "))
	}
	return b.String()
}

// Loader loads source files into their staging tables.
type Loader struct {
	pool *pgxpool.Pool
	key  []byte
	// Root is the folder that recorded paths are made relative to.
	Root string
	// Jobs is how many files load at once, each on its own connection.
	Jobs int
	// OnFile, when set, is told of each file as it finishes.
	OnFile func(Result)
	// S3 reads s3:// paths. When nil, NewS3 makes it on first use.
	S3    *S3
	NewS3 func(context.Context) (*S3, error)
	s3mu  sync.Mutex
}

// s3 returns the S3 client, made with NewS3 on first use.
func (l *Loader) s3(ctx context.Context) (*S3, error) {
	l.s3mu.Lock()
	defer l.s3mu.Unlock()
	if l.S3 == nil && l.NewS3 != nil {
		c, err := l.NewS3(ctx)
		if err != nil {
			return nil, err
		}
		l.S3 = c
	}
	if l.S3 == nil {
		return nil, fmt.Errorf("no S3 client configured")
	}
	return l.S3, nil
}

// s3Meta is what the bucket listing said of an s3:// path.
func (l *Loader) s3Meta(ctx context.Context, path string) (objectMeta, bool) {
	if !IsS3(path) {
		return objectMeta{}, false
	}
	c, err := l.s3(ctx)
	if err != nil {
		return objectMeta{}, false
	}
	return c.listed(path)
}

// open reads a local file or an object in a bucket.
func (l *Loader) open(ctx context.Context, path string) (io.ReadCloser, error) {
	if IsS3(path) {
		c, err := l.s3(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return c.Open(ctx, path)
	}
	return os.Open(path)
}

// New returns a Loader writing through pool, hashing row keys with key.
func New(pool *pgxpool.Pool, key []byte) *Loader {
	return &Loader{pool: pool, key: key, Jobs: 1}
}

// Load loads the files of src, in parallel, each in its own transaction.
// A refused file does not stop the others; its error is in its Result.
// The error returned is for what stops the whole load (a cancelled
// context, a lost database).
func (l *Loader) Load(ctx context.Context, runID int64, src *config.Source, paths []string) ([]Result, error) {
	results := make([]Result, len(paths))
	jobs := max(1, min(l.Jobs, len(paths)))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fatal error
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := l.loadFile(ctx, runID, src, paths[i])
				var se *SourceError
				if errors.As(err, &se) && ctx.Err() == nil {
					r.Status, r.Err, err = Failed, se, nil
				}
				results[i] = r
				if err != nil {
					mu.Lock()
					if fatal == nil {
						fatal = err
					}
					mu.Unlock()
					continue
				}
				if l.OnFile != nil {
					mu.Lock()
					l.OnFile(r)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range paths {
		mu.Lock()
		stop := fatal != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if fatal == nil {
		fatal = ctx.Err()
	}
	return results, fatal
}

func (l *Loader) record(path string) string { return RelPath(l.Root, path) }

// RelPath shows path relative to root when it is inside it, else as given:
// how files are recorded in the manifest and shown to people.
func RelPath(root, path string) string {
	if root == "" {
		return path
	}
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// loadFile loads one file in one transaction: the manifest row, its staging
// rows, its rejects, and the replacement of an earlier version of the same
// path all commit together or not at all.
func (l *Loader) loadFile(ctx context.Context, runID int64, src *config.Source, path string) (Result, error) {
	res := Result{Source: src.Name, Path: l.record(path)}
	sum, size, err := l.hash(ctx, src, path)
	if err != nil {
		return res, &SourceError{Path: res.Path, Err: err}
	}
	var etag *string
	if meta, ok := l.s3Meta(ctx, path); ok {
		etag = &meta.etag
	}
	// A file's commit need not wait for its WAL to reach disk: a crash can
	// lose only whole, recent files — manifest row and rows together — and
	// the next run loads them again. It saves a disk flush per file.
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"})
	if err != nil {
		return res, err
	}
	defer tx.Rollback(context.Background())

	// Known content, loaded before or by another process meanwhile, inserts
	// nothing: the partial unique index on (source, content_hash) decides.
	err = tx.QueryRow(ctx, `INSERT INTO percolate.files (run_id, source, path, size, content_hash, rows_loaded, rows_rejected, status, etag)
		VALUES (NULLIF($1, 0), $2, $3, $4, $5, 0, 0, 'loaded', $6)
		ON CONFLICT (source, content_hash) WHERE status = 'loaded' DO NOTHING
		RETURNING load_id`, runID, src.Name, res.Path, size, sum, etag).Scan(&res.LoadID)
	if errors.Is(err, pgx.ErrNoRows) {
		res.Status = Skipped
		return res, nil
	}
	if err != nil {
		return res, err
	}

	c, err := newContract(src, l.key)
	if err != nil {
		return res, err
	}
	fh, err := l.open(ctx, path)
	if err != nil {
		return res, &SourceError{Path: res.Path, Err: err}
	}
	defer fh.Close()
	fl := newFileLoad(c, fh, res.LoadID, res.Path)
	defer fl.release()
	if err := copyFile(ctx, tx.Conn().PgConn(), fl); err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("load %s: %w", res.Path, ctx.Err())
		}
		if errors.Is(err, ErrNotText) {
			return l.refuse(res, &RefusedError{Path: res.Path, Reason: "not a CSV file: " + err.Error()})
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) && !errors.Is(err, context.Canceled) && fl.err != nil {
			return res, &SourceError{Path: res.Path, Err: err}
		}
		return res, fmt.Errorf("load %s: %w", res.Path, err)
	}
	res.Rows, res.Items, res.Rejected = fl.rows, fl.items, int64(len(fl.rejects))
	res.Loaded = res.Rows - res.Rejected
	res.Rejects = fl.rejects[:min(len(fl.rejects), 5)]
	switch {
	case res.Rows == 0:
		return l.refuse(res, &RefusedError{Path: res.Path, Reason: "no data rows (an empty file)"})
	case fl.fieldCounts == res.Rows:
		return l.refuse(res, &RefusedError{Path: res.Path, Rows: res.Rows, Rejected: res.Rejected, First: res.Rejects[:1],
			Reason: fmt.Sprintf("not a %s file: no row has the %d fields of its contract", src.Name, len(src.Columns))})
	case !src.MaxRejects.Allows(res.Rejected, res.Rows):
		return l.refuse(res, &RefusedError{Path: res.Path, Rows: res.Rows, Rejected: res.Rejected, Max: src.MaxRejects.String(), First: res.Rejects,
			Reason: fmt.Sprintf("%d of %d rows rejected, more than max_rejects (%s) allows; nothing of it was loaded; first bad lines:", res.Rejected, res.Rows, src.MaxRejects)})
	}
	if err := insertRejects(ctx, tx, res, fl.rejects); err != nil {
		return res, err
	}
	replaced, err := l.finish(ctx, tx, c, res, fl.days)
	if err != nil {
		return res, err
	}
	res.Status = Loaded
	if replaced {
		res.Status = Replaced
	}
	if err := tx.Commit(ctx); err != nil {
		return res, err
	}
	return res, nil
}

func (l *Loader) refuse(res Result, e *RefusedError) (Result, error) {
	res.Status, res.Err = Refused, e
	return res, nil
}

// copyFile streams the file into its staging tables: the streamed table
// straight from the parser, then the spooled one.
func copyFile(ctx context.Context, conn *pgconn.PgConn, fl *fileLoad) error {
	t := fl.streamed()
	cr := newCopyReader(t, fl.next)
	_, err := conn.CopyFrom(ctx, cr, copySQL(t))
	cr.close()
	if err != nil && ctx.Err() != nil {
		// A cancelled COPY can surface as a write on the closed connection.
		return fmt.Errorf("copy into %s: %w", t.name, ctx.Err())
	}
	if err != nil {
		if fl.err != nil {
			return fl.err
		}
		return fmt.Errorf("copy into %s: %w", t.name, err)
	}
	if fl.err != nil {
		return fl.err
	}
	if fl.child == nil {
		return nil
	}
	r, err := fl.spool.reader()
	if err != nil {
		return err
	}
	data := io.MultiReader(strings.NewReader(string(copyHeader)), r, strings.NewReader("\xff\xff"))
	if _, err := conn.CopyFrom(ctx, data, copySQL(fl.c.parent)); err != nil {
		return fmt.Errorf("copy into %s: %w", fl.c.parent.name, err)
	}
	return fl.err
}

func insertRejects(ctx context.Context, tx pgx.Tx, res Result, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"percolate", "rejects"},
		[]string{"load_id", "source", "file", "line", "column_name", "reason", "raw"},
		pgx.CopyFromSlice(len(rejects), func(i int) ([]any, error) {
			r := rejects[i]
			var col any
			if r.Column != "" {
				col = fmt.Sprintf("%d (%s)", r.Col, r.Column)
			}
			return []any{res.LoadID, res.Source, res.Path, r.Line, col, r.Reason, r.Raw}, nil
		}))
	return err
}

// finish records, in one statement, the days the file has rows for, its
// counts, and the retirement of earlier content of the same path; the
// retired content's staging rows then go, in this same transaction.
func (l *Loader) finish(ctx context.Context, tx pgx.Tx, c *contract, res Result, days map[int32]bool) (bool, error) {
	list := make([]time.Time, 0, len(days))
	for d := range days {
		list = append(list, time.Unix(int64(d)*86400, 0).UTC())
	}
	var old []int64
	err := tx.QueryRow(ctx, `
		WITH days AS (
		    INSERT INTO percolate.file_days (load_id, day) SELECT $1, unnest($4::date[])
		), counts AS (
		    UPDATE percolate.files SET rows_loaded = $5, rows_rejected = $6 WHERE load_id = $1
		), retired AS (
		    UPDATE percolate.files SET status = 'replaced', replaced_by = $1
		    WHERE source = $2 AND path = $3 AND status = 'loaded' AND load_id <> $1
		    RETURNING load_id
		)
		SELECT coalesce(array_agg(load_id), '{}') FROM retired`,
		res.LoadID, res.Source, res.Path, list, res.Loaded, res.Rejected).Scan(&old)
	if err != nil || len(old) == 0 {
		return false, err
	}
	for _, t := range []*table{c.parent, c.child} {
		if t == nil {
			continue
		}
		if _, err := tx.Exec(ctx, "DELETE FROM "+pg.Ident(strings.Split(t.name, ".")...)+" WHERE load_id = ANY($1)", old); err != nil {
			return false, err
		}
	}
	return true, nil
}

// hash reads a file or object once for its content hash and size. An
// object listed with the ETag and size it had when it was loaded is not
// read again: the manifest knows its hash.
func (l *Loader) hash(ctx context.Context, src *config.Source, path string) (string, int64, error) {
	if meta, ok := l.s3Meta(ctx, path); ok {
		var sum string
		err := l.pool.QueryRow(ctx, `SELECT content_hash FROM percolate.files
			WHERE source = $1 AND path = $2 AND etag = $3 AND size = $4 AND status = 'loaded'`,
			src.Name, path, meta.etag, meta.size).Scan(&sum)
		if err == nil {
			return sum, meta.size, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", 0, err
		}
	}
	f, err := l.open(ctx, path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Pending returns the paths whose content is not loaded for src yet: what
// a load would take.
func (l *Loader) Pending(ctx context.Context, src *config.Source, paths []string) ([]string, error) {
	pool := l.pool
	rows, err := pool.Query(ctx, `SELECT content_hash FROM percolate.files WHERE source = $1 AND status = 'loaded'`, src.Name)
	if err != nil {
		return nil, err
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, h := range known {
		have[h] = true
	}
	var out []string
	for _, p := range paths {
		sum, _, err := l.hash(ctx, src, p)
		if err != nil {
			return nil, err
		}
		if !have[sum] {
			out = append(out, p)
		}
	}
	return out, nil
}

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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
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
	Rejects  []ledger.Reject // the first few, for messages
	Err      error           // why the file was refused
}

// RefusedError says why a file was refused whole.
type RefusedError struct {
	Path     string
	Rejected int64
	Rows     int64
	Max      string
	Reason   string
	First    []ledger.Reject
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: refused: %s", e.Path, e.Reason)
	for _, r := range e.First {
		fmt.Fprintf(&b, "\n  %s:%s", e.Path, strings.TrimPrefix(r.String(), "line "))
	}
	return b.String()
}

// Options configure a CSV loader.
type Options struct {
	// Key is the secret row keys are hashed with. Loading needs it;
	// listing pending files does not.
	Key []byte
	// Root is the folder recorded paths are made relative to.
	Root string
	// Jobs is how many files load at once, each on its own connection;
	// 0 means one per core.
	Jobs int
	// OnFile, when set, is told of each file as it finishes.
	OnFile func(Result)
	// S3 returns the client that reads s3:// paths; nil when there is none.
	S3 func(context.Context) (*S3, error)
}

// ErrNoKey is returned by a load without a hash key.
var ErrNoKey = errors.New("no hash key to make row ids with")

// CSV loads CSV source files into their staging tables.
type CSV struct {
	pool   *pgxpool.Pool
	opt    Options
	ledger ledger.Store
}

// New returns a loader writing through pool.
func New(pool *pgxpool.Pool, opt Options) (*CSV, error) {
	if pool == nil {
		return nil, errors.New("loaders: no database")
	}
	if opt.Jobs < 0 {
		return nil, fmt.Errorf("loaders: %d jobs: want 1 or more, or 0 for one per core", opt.Jobs)
	}
	if opt.Jobs == 0 {
		opt.Jobs = runtime.NumCPU()
	}
	return &CSV{pool: pool, opt: opt}, nil
}

// s3Meta is what the bucket listing said of an s3:// path.
func (l *CSV) s3Meta(ctx context.Context, path string) (objectMeta, bool) {
	if !IsS3(path) || l.opt.S3 == nil {
		return objectMeta{}, false
	}
	c, err := l.opt.S3(ctx)
	if err != nil {
		return objectMeta{}, false
	}
	return c.listed(path)
}

// open reads a local file, or an object in a bucket through s3.
func open(ctx context.Context, path string, s3 func(context.Context) (*S3, error)) (io.ReadCloser, error) {
	if !IsS3(path) {
		return os.Open(path)
	}
	if s3 == nil {
		return nil, fmt.Errorf("%s: no S3 client configured", path)
	}
	c, err := s3(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c.Open(ctx, path)
}

// Load loads the files of src, in parallel, each in its own transaction.
// A refused file does not stop the others; its error is in its Result.
// The error returned is for what stops the whole load (a cancelled
// context, a lost database).
func (l *CSV) Load(ctx context.Context, runID int64, src *config.Source, paths []string) ([]Result, error) {
	if len(l.opt.Key) == 0 {
		return nil, ErrNoKey
	}
	results := make([]Result, len(paths))
	jobs := max(1, min(l.opt.Jobs, len(paths)))
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
				if l.opt.OnFile != nil {
					mu.Lock()
					l.opt.OnFile(r)
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

func (l *CSV) record(path string) string { return RelPath(l.opt.Root, path) }

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
func (l *CSV) loadFile(ctx context.Context, runID int64, src *config.Source, path string) (Result, error) {
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

	// Known content, loaded before or by another process meanwhile, is
	// not claimed: nothing is recorded.
	var claimed bool
	res.LoadID, claimed, err = l.ledger.ClaimFile(ctx, tx, ledger.File{RunID: runID, Source: src.Name, Path: res.Path, Size: size, Hash: sum, ETag: etag})
	if err != nil {
		return res, err
	}
	if !claimed {
		res.Status = Skipped
		return res, nil
	}

	c, err := newContract(src, l.opt.Key)
	if err != nil {
		return res, err
	}
	fh, err := open(ctx, path, l.opt.S3)
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
	if err := l.ledger.AddRejects(ctx, tx, res.LoadID, res.Source, res.Path, fl.rejects); err != nil {
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

func (l *CSV) refuse(res Result, e *RefusedError) (Result, error) {
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

// finish records the file's days and counts and retires earlier content
// of the same path; the retired content's staging rows go in this same
// transaction, found through their days where the tables have one.
func (l *CSV) finish(ctx context.Context, tx pgx.Tx, c *contract, res Result, days map[int32]bool) (bool, error) {
	list := make([]time.Time, 0, len(days))
	for d := range days {
		list = append(list, time.Unix(int64(d)*86400, 0).UTC())
	}
	old, err := l.ledger.FinishFile(ctx, tx, ledger.Loaded{LoadID: res.LoadID, Source: res.Source, Path: res.Path, Days: list, Rows: res.Loaded, Rejected: res.Rejected})
	if err != nil || len(old.LoadIDs) == 0 {
		return false, err
	}
	for _, t := range []*table{c.parent, c.child} {
		if t == nil {
			continue
		}
		del := "DELETE FROM " + pg.Ident(strings.Split(t.name, ".")...) + " WHERE load_id = ANY($1)"
		args := []any{old.LoadIDs}
		if c.dateAt >= 0 {
			del += " AND " + pg.Ident(c.src.Columns[c.dateAt].Date) + " = ANY($2)"
			args = append(args, old.Days)
		}
		if _, err := tx.Exec(ctx, del, args...); err != nil {
			return false, err
		}
	}
	return true, nil
}

// hash reads a file or object once for its content hash and size. An
// object listed with the ETag and size it had when it was loaded is not
// read again: the manifest knows its hash.
func (l *CSV) hash(ctx context.Context, src *config.Source, path string) (string, int64, error) {
	if meta, ok := l.s3Meta(ctx, path); ok {
		sum, known, err := l.ledger.HashByETag(ctx, l.pool, src.Name, path, meta.etag, meta.size)
		if err != nil || known {
			return sum, meta.size, err
		}
	}
	f, err := open(ctx, path, l.opt.S3)
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
func (l *CSV) Pending(ctx context.Context, src *config.Source, paths []string) ([]string, error) {
	have, err := l.ledger.LoadedHashes(ctx, l.pool, src.Name)
	if err != nil {
		return nil, err
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

// Package loaders moves raw source files into staging: each file is read as
// a stream of Apache Arrow record batches under its source's contract
// (typed, personal data dropped, row keys hashed, nested lists exploded) and
// written with PostgreSQL's binary COPY, one transaction per file, recorded
// in the file manifest.
package loaders

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	wh "github.com/percolate/percolate/internal/warehouse" // this package's tests have a helper named warehouse
)

// Status is what became of a file.
type Status string

// File statuses.
const (
	Loaded   Status = "loaded"   // new content, rows in staging
	Replaced Status = "replaced" // new content at a known path: its old rows were replaced
	Skipped  Status = "skipped"  // this content was loaded before
	Refused  Status = "refused"  // too many rejects, not CSV, or refused by the server: nothing of it stays
	// RefusedEarlier is content refused by an earlier run under the same
	// contract: not read again; Err says why it was refused.
	RefusedEarlier Status = "refused earlier"
	Failed         Status = "failed" // it could not be read (a bucket that kept failing): nothing of it stays
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
	// Redelivered is a file skipped because its rows are, key for key, a
	// loaded file's: recorded as its copy (see fingerprint).
	Redelivered bool

	// What the manifest records of a refused file.
	seen ledger.File
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
	// Precision maps "schema.table.column" to the declared precision of a
	// numeric staging column: numbers are checked against it before they
	// are copied. A column it leaves out takes up to 18 digits.
	Precision map[string]int
	// Listed, when set, returns what the listing that found a local file
	// learnt of it (see StatFile), so that the load need not stat it
	// again; ok false: the load stats it.
	Listed func(path string) (st Stat, ok bool)
	// Rehash reads and hashes every local file, even one loaded before at
	// the same path with the same size and modification time (which is
	// otherwise taken to be unchanged and not read).
	Rehash bool
	// DeferIndexesFrom is the least a load must bring, in bytes, for the
	// BRIN indexes of its staging tables to be dropped until it ends (see
	// deferIndexes); 0 means 64 MiB, a negative number never.
	DeferIndexesFrom int64
	// Engine is the warehouse's engine, detected by the caller; nil: the
	// loader detects it when it first needs it.
	Engine *wh.Engine
}

// ErrNoKey is returned by a load without a hash key.
var ErrNoKey = errors.New("no hash key to make row ids with")

// CSV loads CSV source files into their staging tables.
type CSV struct {
	pool   *pgxpool.Pool
	opt    Options
	ledger ledger.Store
	test   hooks
	detect sync.Mutex // held while the engine is detected
}

// hooks let this package's tests act at given points of a load; they are
// nil otherwise.
type hooks struct {
	// stream wraps the reader a file is streamed into staging from (not
	// the one it is hashed from).
	stream func(path string, r io.Reader) io.Reader
	// commit is called before a load's transaction commits.
	commit func()
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

// Files up to smallFile bytes load in groups: read, hashed and parsed
// outside any transaction, then committed together, a group of up to
// groupBytes and groupFiles in one transaction with one COPY per table.
// A daily file of a few hundred orders costs little more than its rows.
const (
	smallFile  = 4 << 20
	groupBytes = 8 << 20
	groupFiles = 256
)

// Stat is what a load needs to know of a local file before it reads it:
// its size, and its modification time as the manifest keeps it (UTC, to
// the microsecond).
type Stat struct {
	Size     int64
	Modified time.Time
}

// StatFile stats a local file; ok is false when path is not a regular
// file (a folder, a device).
func StatFile(path string) (st Stat, ok bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stat{}, false, err
	}
	return Stat{Size: fi.Size(), Modified: fi.ModTime().UTC().Truncate(time.Microsecond)}, fi.Mode().IsRegular(), nil
}

// Load loads the files of src in parallel: big files and objects each in a
// transaction of their own, small local files in groups. A refused file
// does not stop the others; its error is in its Result. The error returned
// is for what stops the whole load (a cancelled context, a lost
// database).
func (l *CSV) Load(ctx context.Context, runID int64, src *config.Source, paths []string) (_ []Result, err error) {
	if len(l.opt.Key) == 0 {
		return nil, ErrNoKey
	}
	results := make([]Result, len(paths))
	contract := Fingerprint(src)
	infos, unchanged, err := l.survey(ctx, src, contract, paths)
	if err != nil {
		return nil, err
	}
	// A unit of work is a file alone, streamed, or a group of small ones.
	type unit struct {
		files []int
		alone bool
	}
	var units []unit
	var group []int
	var groupSize int64
	flush := func() {
		if len(group) > 0 {
			units = append(units, unit{files: group})
			group, groupSize = nil, 0
		}
	}
	for i, p := range paths {
		k, same := unchanged[i]
		switch {
		case same:
			results[i] = Result{Source: src.Name, Path: l.record(p)}
			passOver(&results[i], k)
		case IsS3(p) || infos[i].Size > smallFile:
			units = append(units, unit{files: []int{i}, alone: true})
		default:
			if len(group) == groupFiles || groupSize+infos[i].Size > groupBytes {
				flush()
			}
			group = append(group, i)
			groupSize += infos[i].Size
		}
	}
	flush()
	if err := wh.RestoreIndexes(ctx, l.pool); err != nil {
		return nil, fmt.Errorf("build again the indexes an earlier load dropped: %w", err)
	}
	var size int64
	for i := range paths {
		if _, same := unchanged[i]; !same {
			size += infos[i].Size
		}
	}
	c, err := l.contract(src)
	if err != nil {
		return nil, err
	}
	deferred, err := l.deferIndexes(ctx, c, size)
	if err != nil {
		return nil, fmt.Errorf("drop the staging indexes for the load: %w", err)
	}
	if deferred {
		defer func() {
			// Built again however the load ends; on a kill, by the next.
			if rerr := wh.RestoreIndexes(context.WithoutCancel(ctx), l.pool); rerr != nil {
				err = errors.Join(err, fmt.Errorf("build the staging indexes again: %w", rerr))
			}
		}()
	}
	var mu sync.Mutex
	report := func(rs ...Result) {
		if l.opt.OnFile == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			l.opt.OnFile(r)
		}
	}
	for i := range unchanged {
		report(results[i])
	}
	work := make(chan unit)
	var wg sync.WaitGroup
	var fatal error
	for range max(1, min(l.opt.Jobs, len(units))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf arenas
			for u := range work {
				var err error
				if u.alone {
					i := u.files[0]
					results[i], err = l.loadAlone(ctx, runID, src, contract, paths[i], infos[i])
				} else {
					err = l.loadGroup(ctx, runID, src, contract, u.files, paths, infos, results, &buf)
				}
				if err == nil {
					err = l.recordRefused(ctx, runID, contract, u.files, results)
				}
				if err != nil {
					mu.Lock()
					fatal = cmp.Or(fatal, err)
					mu.Unlock()
					continue
				}
				for _, i := range u.files {
					report(results[i])
				}
			}
		}()
	}
feed:
	for _, u := range units {
		mu.Lock()
		stop := fatal != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case work <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return results, cmp.Or(fatal, ctx.Err())
}

// passOver marks res as content the manifest knows already: skipped, or
// refused by an earlier run, with its reason.
func passOver(res *Result, k ledger.Known) {
	res.Status = Skipped
	if k.Refused {
		// Scrubbed again: a reason stored by an earlier release may hold
		// what this one masks.
		res.Status, res.Err = RefusedEarlier, errors.New(scrub(k.Reason, nil, len(k.Reason)+256))
	}
}

// recordRefused records in the manifest the files of a unit that were
// refused, so that later runs pass over them.
func (l *CSV) recordRefused(ctx context.Context, runID int64, contract string, unit []int, results []Result) error {
	for _, i := range unit {
		r := results[i]
		if r.Status != Refused || r.seen.Hash == "" {
			continue
		}
		f := r.seen
		f.RunID, f.Source, f.Path, f.Contract = runID, r.Source, r.Path, contract
		reason := "refused"
		if r.Err != nil {
			reason = strings.TrimPrefix(r.Err.Error(), r.Path+": refused: ")
		}
		if err := l.ledger.RecordRefused(ctx, l.pool, ledger.Refusal{File: f, Reason: strings.ToValidUTF8(reason, "\uFFFD"), Rejected: r.Rejected}); err != nil {
			return fmt.Errorf("record the refusal of %s: %w", r.Path, err)
		}
	}
	return nil
}

// loadAlone loads one file in a transaction of its own (see loadFile); a
// file or object that cannot be read fails alone, the others go on.
func (l *CSV) loadAlone(ctx context.Context, runID int64, src *config.Source, contract, path string, info Stat) (Result, error) {
	r, err := l.loadFile(ctx, runID, src, contract, path, info)
	var se *SourceError
	switch {
	case errors.As(err, &se) && ctx.Err() == nil:
		r.Status, r.Err, err = Failed, se, nil
	case err != nil:
		// Its transaction rolled back: it is not loaded, whatever its
		// parse said.
		r = Result{}
	}
	return r, err
}

// survey stats the local files among paths (or asks Options.Listed) and
// tells which are recorded already with the same path, size and
// modification time, loaded or refused under contract (see ledger.Known):
// those are not read again (unless Options.Rehash).
func (l *CSV) survey(ctx context.Context, src *config.Source, contract string, paths []string) ([]Stat, map[int]ledger.Known, error) {
	infos := make([]Stat, len(paths))
	var local []ledger.File
	var at []int
	for i, p := range paths {
		if IsS3(p) {
			continue
		}
		st, ok := Stat{}, false
		if l.opt.Listed != nil {
			st, ok = l.opt.Listed(p)
		}
		if !ok {
			var err error
			if st, _, err = StatFile(p); err != nil {
				continue // loading it will say why
			}
		}
		infos[i] = st
		local = append(local, ledger.File{Path: l.record(p), Size: st.Size, Modified: st.Modified})
		at = append(at, i)
	}
	unchanged := map[int]ledger.Known{}
	if l.opt.Rehash || len(local) == 0 {
		return infos, unchanged, nil
	}
	same, err := l.ledger.Unchanged(ctx, l.pool, src.Name, contract, local)
	if err != nil {
		return nil, nil, err
	}
	for k, f := range local {
		if known, ok := same[f.Path]; ok {
			unchanged[at[k]] = known
		}
	}
	return infos, unchanged, nil
}

// contract compiles src's contract for a load.
func (l *CSV) contract(src *config.Source) (*contract, error) {
	c, err := newContract(src, l.opt.Key)
	if err != nil {
		return nil, err
	}
	c.limit(l.opt.Precision)
	return c, nil
}

// begin starts a load's transaction. Its commit need not wait for the WAL
// to reach disk: a crash can lose only whole, recent loads (manifest rows
// and staging rows together), which the next run loads again. It saves a
// disk flush per load.
func (l *CSV) begin(ctx context.Context) (pgx.Tx, error) {
	return l.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"})
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
// a load would take. Like a load, it does not read a local file loaded
// before at the same path with the same size and modification time.
func (l *CSV) Pending(ctx context.Context, src *config.Source, paths []string) ([]string, error) {
	contract := Fingerprint(src)
	_, unchanged, err := l.survey(ctx, src, contract, paths)
	if err != nil {
		return nil, err
	}
	var left []string
	var hashes []string
	for i, p := range paths {
		if _, same := unchanged[i]; same {
			continue
		}
		sum, _, err := l.hash(ctx, src, p)
		if err != nil {
			return nil, err
		}
		left, hashes = append(left, p), append(hashes, sum)
	}
	known, err := l.ledger.KnownHashes(ctx, l.pool, src.Name, contract, hashes)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, p := range left {
		if _, ok := known[hashes[i]]; !ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Parse does to files what a load of src does on the client (read them;
// type, scrub, hash and explode their rows into Arrow batches; encode
// those for binary COPY) and drops the result: the client's share of a
// load, measured without a database. It returns the data rows read.
func Parse(src *config.Source, key []byte, paths []string) (int64, error) {
	c, err := newContract(src, key)
	if err != nil {
		return 0, err
	}
	var rows int64
	var buf arenas
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return rows, err
		}
		fl := newFileLoad(c, f, 1, p)
		buf.cut([4]int{})
		err = fl.encodeAll(&buf)
		rows += fl.rows
		fl.release()
		f.Close()
		if err != nil {
			return rows, fmt.Errorf("%s: %w", p, err)
		}
	}
	return rows, nil
}

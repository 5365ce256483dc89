// Package loaders moves raw source files into staging: each file is read as
// a stream of Apache Arrow record batches under its source's contract
// (typed, personal data dropped, row keys hashed, nested lists exploded) and
// written with PostgreSQL's binary COPY, one transaction per file, recorded
// in the file manifest.
package loaders

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

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
	// SplitFrom is the least size, in bytes, of a local file whose parsing
	// is split among the jobs, in ranges of its lines (see split.go); 0
	// means 32 MiB, a negative number never.
	SplitFrom int64
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
	// split is told how many ranges a split load had, and its error.
	split func(ranges int, err error)
	// maxSeen, when set, replaces maxSeen for every file.
	maxSeen int
	// groupFiles, when set, replaces groupFiles.
	groupFiles int
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

// Files up to smallFile bytes load in groups: read, hashed and parsed
// outside any transaction, then committed together, a group of up to
// groupBytes and groupFiles in one transaction with one COPY per table.
// A daily file of a few hundred orders costs little more than its rows.
const (
	smallFile  = 4 << 20
	groupBytes = 8 << 20
	groupFiles = 256
)

// Load loads the files of src in parallel: big files and objects each in a
// transaction of their own, small local files in groups. A refused file
// does not stop the others; its error is in its Result. The error returned
// is for what stops the whole load (a cancelled context, a lost
// database).
func (l *CSV) Load(ctx context.Context, runID int64, src *config.Source, paths []string) (_ []Result, err error) {
	if len(l.opt.Key) == 0 {
		return nil, ErrNoKey
	}
	ld := &loading{CSV: l, runID: runID, src: src, contract: Fingerprint(src), paths: paths, results: make([]Result, len(paths))}
	infos, unchanged, err := l.survey(ctx, src, ld.contract, paths)
	if err != nil {
		return nil, fmt.Errorf("load source %s: %w", src.Name, err)
	}
	ld.infos = infos
	units := ld.units(unchanged)
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
	for i := range unchanged {
		ld.report(ld.results[i])
	}
	if err := ld.run(ctx, units); err != nil {
		return ld.results, fmt.Errorf("load source %s: %w", src.Name, err)
	}
	return ld.results, nil
}

// loading is the state of one call of Load, shared by its workers: each
// writes only the results of its own files.
type loading struct {
	*CSV
	runID    int64
	src      *config.Source
	contract string // the source's fingerprint
	paths    []string
	infos    []Stat // what survey learnt of each local path
	results  []Result

	mu    sync.Mutex // over calls of OnFile and fatal
	fatal error      // the first error that stops the load
}

// unit is a unit of work: a file alone, streamed, or a group of small
// ones (indexes into the load's paths).
type unit struct {
	files []int
	alone bool
	parts int // of a file alone: the ranges it is split into (see splits); 0: whole
}

// units sorts the paths into units of work; a file unchanged since it
// was recorded is passed over here, without one.
func (ld *loading) units(unchanged map[int]ledger.Known) []unit {
	var units []unit
	var small []int
	for i, p := range ld.paths {
		k, same := unchanged[i]
		if same {
			ld.results[i] = Result{Source: ld.src.Name, Path: ld.record(p)}
			passOver(&ld.results[i], k)
			continue
		}
		parts := ld.splits(p, ld.infos[i])
		if IsS3(p) || ld.infos[i].Size > smallFile || parts > 1 {
			units = append(units, unit{files: []int{i}, alone: true, parts: parts})
			continue
		}
		small = append(small, i)
	}
	return append(units, ld.groups(small)...)
}

// report tells Options.OnFile of finished files, one call at a time.
func (ld *loading) report(rs ...Result) {
	if ld.opt.OnFile == nil {
		return
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, r := range rs {
		ld.opt.OnFile(r)
	}
}

// run hands the units to Options.Jobs workers and returns the first error
// that stopped one, or the context's.
func (ld *loading) run(ctx context.Context, units []unit) error {
	work := make(chan unit)
	var wg sync.WaitGroup
	for range max(1, min(ld.opt.Jobs, len(units))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf arenas
			for u := range work {
				if err := ld.do(ctx, u, &buf); err != nil {
					ld.mu.Lock()
					ld.fatal = cmp.Or(ld.fatal, err)
					ld.mu.Unlock()
					continue
				}
				for _, i := range u.files {
					ld.report(ld.results[i])
				}
			}
		}()
	}
feed:
	for _, u := range units {
		ld.mu.Lock()
		stop := ld.fatal != nil
		ld.mu.Unlock()
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
	return cmp.Or(ld.fatal, ctx.Err())
}

// do loads one unit of work and records in the manifest those of its
// files that were refused.
func (ld *loading) do(ctx context.Context, u unit, buf *arenas) error {
	var err error
	if u.alone {
		i := u.files[0]
		ld.results[i], err = ld.loadAlone(ctx, i, u.parts)
	} else {
		err = ld.loadGroup(ctx, u.files, buf)
	}
	if err != nil {
		return err
	}
	return ld.recordRefused(ctx, u.files)
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
func (ld *loading) recordRefused(ctx context.Context, unit []int) error {
	for _, i := range unit {
		r := ld.results[i]
		if r.Status != Refused || r.seen.Hash == "" {
			continue
		}
		f := r.seen
		f.RunID, f.Source, f.Path, f.Contract = ld.runID, r.Source, r.Path, ld.contract
		reason := "refused"
		if r.Err != nil {
			reason = strings.TrimPrefix(r.Err.Error(), r.Path+": refused: ")
		}
		if err := ld.ledger.RecordRefused(ctx, ld.pool, ledger.Refusal{File: f, Reason: strings.ToValidUTF8(reason, "\uFFFD"), Rejected: r.Rejected}); err != nil {
			return fmt.Errorf("record the refusal of %s: %w", r.Path, err)
		}
	}
	return nil
}

// loadAlone loads one file in a transaction of its own (see loadFile),
// split into parts ranges when there are more than one; a file or object
// that cannot be read fails alone, the others go on.
func (ld *loading) loadAlone(ctx context.Context, i, parts int) (Result, error) {
	r, err := ld.loadFile(ctx, ld.paths[i], ld.infos[i], parts)
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

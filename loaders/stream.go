package loaders

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// ErrChanged is the error of a file that changed while it was read: its
// content hash and the bytes it loaded from were not the same content.
// Nothing of it is recorded; it is read again (see readAttempts), and
// failing that by the next run.
var ErrChanged = errors.New("it changed while it was read")

// readAttempts is how many times a load reads a file that keeps changing
// while it is read, before it leaves it to the next run.
const readAttempts = 3

// loadFile loads one file in one transaction, streaming it (see
// loadOnce), split into parts ranges when there are more than one; a file
// that changed while it was read is read again whole, and so is a split
// file whose split was given up (errSplit).
func (ld *loading) loadFile(ctx context.Context, path string, info Stat, parts int) (Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := ld.loadOnce(ctx, path, info, parts)
		if errors.Is(err, errSplit) && ctx.Err() == nil {
			parts, attempt = 0, attempt-1 // read again, whole
			continue
		}
		if !errors.Is(err, ErrChanged) {
			return res, err
		}
		if attempt == readAttempts {
			res.Status = ""
			return res, &SourceError{Path: res.Path, Err: fmt.Errorf("%w, %d times: nothing of it was recorded; the next run reads it again", err, attempt)}
		}
		if !IsS3(path) {
			if st, _, err := StatFile(path); err == nil {
				info = st
			}
		}
	}
}

// loadOnce loads one file in one transaction, streaming it: the manifest
// row, its staging rows, its rejects, and the replacement of an earlier
// version of the same path all commit together or not at all. Big files
// and objects in buckets go this way; memory stays bounded whatever their
// size. The file is read twice, for its hash and then for its rows: the
// second read is hashed too, and the load is given up (ErrChanged) unless
// both saw the same bytes, so that the manifest never records a hash of
// other bytes than those loaded. A big local file is parsed in parts
// ranges by every job when parts is more than one (see split.go).
func (ld *loading) loadOnce(ctx context.Context, path string, info Stat, parts int) (Result, error) {
	l, src := ld.CSV, ld.src
	res := Result{Source: src.Name, Path: l.record(path)}
	var plan *splitPlan
	if parts > 1 {
		plan = &splitPlan{seed: maphash.MakeSeed(), parts: parts}
	}
	if known, err := ld.surveyOne(ctx, path, info, &res, plan); known || err != nil {
		return res, err
	}
	sum, size, etag := res.seen.Hash, res.seen.Size, res.seen.ETag
	tx, err := l.begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback(context.Background())

	// Known content, loaded before or by another process meanwhile, is
	// not claimed: nothing is recorded.
	var claimed bool
	res.LoadID, claimed, err = l.ledger.ClaimFile(ctx, tx, ledger.File{RunID: ld.runID, Source: src.Name, Path: res.Path, Size: size, Hash: sum, ETag: etag, Modified: info.Modified, Contract: ld.contract})
	if err != nil || !claimed {
		if err == nil {
			res.Status = Skipped
		}
		return res, err
	}
	if plan != nil && len(plan.ranges) > 1 {
		return res, ld.loadSplit(ctx, tx, path, &res, plan)
	}
	c, err := l.contract(src)
	if err != nil {
		return res, err
	}
	fh, err := open(ctx, path, l.opt.S3)
	if err != nil {
		return res, &SourceError{Path: res.Path, Err: err}
	}
	defer fh.Close()
	read := &hashReader{r: fh, h: sha256.New()}
	var in io.Reader = read
	if l.test.stream != nil {
		in = l.test.stream(path, read)
	}
	fl := l.test.newFileLoad(c, in, res.LoadID, res.Path)
	defer fl.release()
	err = copyFile(ctx, tx.Conn().PgConn(), fl)
	return res, ld.finishCopy(ctx, tx, &res, fl, err, func() error { return read.same(sum, size) })
}

// finishCopy ends the load of a streamed file whose copy returned err.
// What was loaded, or refused, must be what was hashed: unless same says
// so, the file changed (ErrChanged) or could not be read again (a
// SourceError). Then the file is refused, or stops the load (see
// copyFailed), or is recorded and committed (see finishStream).
func (ld *loading) finishCopy(ctx context.Context, tx pgx.Tx, res *Result, fl *fileLoad, err error, same func() error) error {
	src := ld.src
	if err == nil || refusal(res.Path, err, src) != nil || refusedByServer(res.Path, err, src) != nil {
		if cerr := same(); errors.Is(cerr, ErrChanged) {
			return cerr
		} else if cerr != nil {
			return &SourceError{Path: res.Path, Err: cerr}
		}
	}
	if err != nil {
		return ld.copyFailed(ctx, res, fl, src, err)
	}
	if verdict(res, fl, src) {
		return nil
	}
	return ld.finishStream(ctx, tx, fl.c, fl, res)
}

// finishStream records what a streamed file's copy loaded (its rejects,
// its days and counts, the content it replaced, whose rows it deletes) and
// commits its transaction.
func (l *CSV) finishStream(ctx context.Context, tx pgx.Tx, c *contract, fl *fileLoad, res *Result) error {
	if err := l.ledger.AddRejects(ctx, tx, res.LoadID, res.Source, res.Path, fl.rejects); err != nil {
		return err
	}
	retired, err := l.ledger.FinishFile(ctx, tx, loaded(*res, fl))
	if err != nil {
		return err
	}
	if err := deleteRetired(ctx, tx, c, retired); err != nil {
		return err
	}
	if len(retired.LoadIDs) > 0 {
		res.Status = Replaced
	}
	if l.test.commit != nil {
		l.test.commit()
	}
	if err := pg.Commit(ctx, tx); err != nil {
		return fmt.Errorf("commit the load of %s: %w", res.Path, err)
	}
	return nil
}

// surveyOne hashes a file to be streamed, into res.seen, and tells
// whether the manifest knows its content already: then res says so
// (skipped, or refused earlier) and it is not loaded.
func (ld *loading) surveyOne(ctx context.Context, path string, info Stat, res *Result, plan *splitPlan) (bool, error) {
	l, src, contract := ld.CSV, ld.src, ld.contract
	var sum string
	var size int64
	var err error
	if plan != nil { // its ranges are found as it is hashed
		var scan *rangeScan
		if sum, size, scan, err = scanRanges(ctx, path, info.Size, plan.parts, plan.seed); err == nil {
			plan.ranges, plan.lines = scan.ranges, scan.lines
		}
	} else {
		sum, size, err = l.hash(ctx, src, path)
	}
	if err != nil {
		return true, &SourceError{Path: res.Path, Err: err}
	}
	var etag *string
	if meta, ok := l.s3Meta(ctx, path); ok {
		etag = &meta.etag
	}
	res.seen = ledger.File{Size: size, Hash: sum, ETag: etag, Modified: info.Modified}
	known, err := l.ledger.KnownHashes(ctx, l.pool, src.Name, contract, []string{sum})
	if err != nil {
		return true, err
	}
	k, ok := known[sum]
	if !ok {
		return false, nil
	}
	passOver(res, k)
	if info.Modified.IsZero() { // an object: known by its ETag
		return true, l.ledger.TouchObject(ctx, l.pool, src.Name, ledger.File{Path: res.Path, Hash: sum, Size: size, ETag: etag})
	}
	return true, l.ledger.Touch(ctx, l.pool, src.Name, []ledger.File{{Path: res.Path, Hash: sum, Size: size, Modified: info.Modified}})
}

// copyFailed says what became of a streamed file whose copy failed with
// err: refused (res says why, and the error is nil), unreadable (a
// SourceError) or a load that stops the run.
func (l *CSV) copyFailed(ctx context.Context, res *Result, fl *fileLoad, src *config.Source, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("load %s: %w", res.Path, ctx.Err())
	}
	if refused := refusal(res.Path, err, src); refused != nil {
		res.Status, res.Err = Refused, refused
		return nil
	}
	if e := refusedByServer(res.Path, err, src); e != nil {
		verdict(res, fl, src)
		res.Status, res.Err = Refused, e
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) && !errors.Is(err, context.Canceled) && fl.err != nil {
		return &SourceError{Path: res.Path, Err: err}
	}
	return fmt.Errorf("load %s: %w", res.Path, err)
}

// hashReader hashes what is read through it, up to the end of the stream
// the parser saw.
type hashReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	eof bool
}

func (r *hashReader) Read(p []byte) (int, error) {
	if r.eof {
		return 0, io.EOF
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	r.eof = err == io.EOF
	return n, err
}

// same reads what is left of the stream when a refusal stopped reading it
// early (bytes past the end the parser saw were not read: a file that grew
// since is another content) and returns ErrChanged unless all of it had
// the content hash sum and size, or the error reading it.
func (r *hashReader) same(sum string, size int64) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if r.n != size || hex.EncodeToString(r.h.Sum(nil)) != sum {
		return fmt.Errorf("%w (%d bytes loaded, %d hashed)", ErrChanged, r.n, size)
	}
	return nil
}

// refusedByServer is the refusal of a file whose rows the server refused
// (a value out of a column's range, a constraint of the table): the
// loader checks what it can, and what still reaches the server is the
// file's fault, not the run's. Other errors are nil: the run stops.
func refusedByServer(path string, err error, src *config.Source) *RefusedError {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	switch pgErr.Code[:2] {
	case "22", "23": // data exception, integrity constraint violation
	default:
		return nil
	}
	reason := "the database refused its rows: " + pgErr.Message
	if pgErr.Detail != "" {
		reason += " (" + pgErr.Detail + ")"
	}
	if pgErr.Where != "" {
		reason += "; " + pgErr.Where
	}
	// The detail may quote a row's values.
	return &RefusedError{Path: path, Reason: scrub(reason, nil, src.Limits().Reason)}
}

// refusal is why reading a file refused it whole (not text, a header of
// another layout), or nil when err is not such a refusal. Its reason is
// scrubbed: it may quote what the file holds.
func refusal(path string, err error, src *config.Source) *RefusedError {
	var refused *RefusedError
	switch {
	case errors.Is(err, ErrNotText):
		refused = &RefusedError{Path: path, Reason: "not a CSV file: " + err.Error()}
	case errors.As(err, &refused):
		r := *refused
		refused = &r
	default:
		return nil
	}
	refused.Reason = scrub(refused.Reason, nil, src.Limits().Reason)
	return refused
}

// verdict counts a parsed file into res and refuses it whole when it has
// no data, is not of its source's layout, or has more rejects than its
// source allows; it reports whether it refused. Otherwise res is Loaded.
func verdict(res *Result, fl *fileLoad, src *config.Source) bool {
	res.Rows, res.Items, res.Rejected = fl.rows, fl.items, int64(len(fl.rejects))
	res.Loaded = res.Rows - res.Rejected
	res.Rejects = fl.rejects[:min(len(fl.rejects), 5)]
	res.Status = Loaded
	var e *RefusedError
	switch {
	case res.Rows == 0:
		e = &RefusedError{Path: res.Path, Reason: "no data rows (an empty file)"}
	case fl.fieldCounts == res.Rows:
		e = &RefusedError{Path: res.Path, Rows: res.Rows, Rejected: res.Rejected, First: res.Rejects[:1],
			Reason: fmt.Sprintf("not a %s file: no row has the %d fields of its contract", src.Name, len(src.Columns))}
	case !src.MaxRejects.Allows(res.Rejected, res.Rows):
		e = &RefusedError{Path: res.Path, Rows: res.Rows, Rejected: res.Rejected, Max: src.MaxRejects.String(), First: res.Rejects,
			Reason: fmt.Sprintf("%d of %d rows rejected, more than max_rejects (%s) allows; nothing of it was loaded; first bad lines:", res.Rejected, res.Rows, src.MaxRejects)}
	}
	if e != nil {
		res.Status, res.Err = Refused, e
	}
	return e != nil
}

// loaded is what the ledger records of a file that loaded.
func loaded(res Result, fl *fileLoad) ledger.Loaded {
	days := make([]time.Time, 0, len(fl.days))
	for d := range fl.days {
		days = append(days, time.Unix(int64(d)*86400, 0).UTC())
	}
	return ledger.Loaded{LoadID: res.LoadID, Source: res.Source, Path: res.Path, Days: days, Rows: res.Loaded, Rejected: res.Rejected, Fingerprint: fl.rowsPrint()}
}

// deleteRetired deletes the staging rows of content a load replaced, in
// its transaction: through their days where the tables have one.
func deleteRetired(ctx context.Context, tx pgx.Tx, c *contract, old ledger.Retired) error {
	if len(old.LoadIDs) == 0 {
		return nil
	}
	for _, t := range c.tables() {
		del := "DELETE FROM " + pg.Ident(strings.Split(t.name, ".")...) + " WHERE load_id = ANY($1)"
		args := []any{old.LoadIDs}
		if c.dateAt >= 0 {
			del += " AND " + pg.Ident(c.src.Columns[c.dateAt].Date) + " = ANY($2)"
			args = append(args, old.Days)
		}
		if _, err := tx.Exec(ctx, del, args...); err != nil {
			return err
		}
	}
	return nil
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
	if fl.child != nil {
		r, err := fl.spool.reader()
		if err != nil {
			return err
		}
		data := io.MultiReader(bytes.NewReader(copyHeader), r, bytes.NewReader(copyTrailer))
		if _, err := conn.CopyFrom(ctx, data, copySQL(fl.c.parent)); err != nil {
			return fmt.Errorf("copy into %s: %w", fl.c.parent.name, err)
		}
		if fl.err != nil {
			return fl.err
		}
	}
	return copySums(ctx, conn, fl)
}

// copySums copies the file's items' sums and rows' sums, where its
// contract has them.
func copySums(ctx context.Context, conn *pgconn.PgConn, fl *fileLoad) error {
	for _, s := range []struct {
		t      *table
		encode func([]byte) ([]byte, error)
	}{{fl.c.sums, fl.encodeSums}, {fl.c.rowSums, fl.encodeRowSums}} {
		if s.t == nil {
			continue
		}
		b, err := s.encode(slices.Clone(copyHeader))
		if err != nil {
			return err
		}
		if _, err := conn.CopyFrom(ctx, bytes.NewReader(append(b, copyTrailer...)), copySQL(s.t)); err != nil {
			return fmt.Errorf("copy into %s: %w", s.t.name, err)
		}
	}
	return nil
}

package loaders

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// splitPlan is how a file is split: into parts ranges (fewer when it has
// too few lines), hashed with seed.
type splitPlan struct {
	seed   maphash.Seed
	parts  int
	ranges []fileRange
	lines  int
}

// splitLoad is one split file's load: a fileLoad per range, parsed side
// by side. The streamed table's rows go from the ranges' goroutines, as
// encoded batches, into one COPY; where the parent is not streamed (it has
// an items table), or a range's rows may be set repeated once every range
// is read (a range but the first), they are spooled and copied after, as
// are the sums, merged.
type splitLoad struct {
	fls     []*fileLoad
	readers []*rangeReader
	seen    *seenSet // nil when the source does not flag repeats
	t       *table   // the table streamed while parsing
	out     chan []byte

	stop chan struct{} // closed to stop the ranges
	once sync.Once
	wg   sync.WaitGroup
	errs []error // by range
}

// loadSplit loads a file split into ranges (see split.go), in the
// transaction tx that claimed it, as loadOnce loads one whole.
func (ld *loading) loadSplit(ctx context.Context, tx pgx.Tx, path string, res *Result, plan *splitPlan) error {
	l := ld.CSV
	fh, err := os.Open(path)
	if err != nil {
		return &SourceError{Path: res.Path, Err: err}
	}
	defer fh.Close()
	sp, err := ld.newSplit(fh, path, res, plan)
	if err != nil {
		return err
	}
	defer sp.release()
	err = sp.copy(ctx, tx.Conn().PgConn())
	if l.test.split != nil {
		l.test.split(len(sp.fls), err)
	}
	if errors.Is(err, errSplit) && ctx.Err() == nil {
		return err
	}
	return ld.finishCopy(ctx, tx, res, sp.fls[0], err, sp.same) // the first range holds the merged counts
}

// newSplit makes the fileLoads of plan's ranges of the open file fh.
func (ld *loading) newSplit(fh *os.File, path string, res *Result, plan *splitPlan) (*splitLoad, error) {
	n := len(plan.ranges)
	sp := &splitLoad{stop: make(chan struct{}), errs: make([]error, n), out: make(chan []byte, n)}
	for i, at := range plan.ranges {
		c, err := ld.CSV.contract(ld.src)
		if err != nil {
			sp.release()
			return nil, err
		}
		rr := newRangeReader(fh, at, i == n-1, plan.seed)
		var in io.Reader = rr
		if ld.test.stream != nil {
			in = ld.test.stream(path, rr)
		}
		fl := ld.test.newFileLoad(c, in, res.LoadID, res.Path)
		fl.rd.line = at.line
		if i > 0 { // the byte-order mark and the header are the first range's
			fl.rd.start, fl.header = false, false
		}
		if c.repeatAt >= 0 {
			if sp.seen == nil {
				sp.seen = newSeenSet(fl.maxSeen, plan.lines)
			}
			fl.split = sp.seen
			// The rows of a range but the first may be set repeated after
			// they are parsed: they are spooled, not streamed (the items
			// table, where there is one, is streamed from every range).
			if c.child == nil && i > 0 {
				fl.spool = &spool{}
			}
		}
		if fl.spool != nil {
			// A range of a big file spools more than memory should hold:
			// to a file from the first byte.
			if err := fl.spool.toFile(); err != nil {
				sp.release()
				return nil, err
			}
		}
		sp.fls, sp.readers = append(sp.fls, fl), append(sp.readers, rr)
	}
	sp.t = sp.fls[0].streamed()
	return sp, nil
}

func (sp *splitLoad) release() {
	for _, fl := range sp.fls {
		if fl.child == nil && fl.spool != nil {
			fl.spool.close()
		}
		fl.release()
	}
}

// halt stops the ranges' parsing.
func (sp *splitLoad) halt() { sp.once.Do(func() { close(sp.stop) }) }

// failed is the error that stopped the ranges, the first range's first:
// a range that ends inside a quoted field or a full seen set gives the
// split up, whatever the others said.
func (sp *splitLoad) failed() error {
	if sp.seen != nil && sp.seen.full.Load() {
		return fmt.Errorf("%w: more than %d row ids", errSplit, sp.seen.max.Load())
	}
	for _, err := range sp.errs {
		if errors.Is(err, errSplit) {
			return err
		}
	}
	for _, err := range sp.errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// copy parses the ranges and copies their rows into staging: the streamed
// table while they parse, then the spooled parent and the merged sums.
func (sp *splitLoad) copy(ctx context.Context, conn *pgconn.PgConn) error {
	done := make(chan struct{})
	for i := range sp.fls {
		sp.wg.Add(1)
		go sp.parse(ctx, i)
	}
	go func() {
		sp.wg.Wait()
		close(sp.out)
		close(done)
	}()
	_, err := conn.CopyFrom(ctx, &chunkReader{sp: sp, buf: copyHeader}, copySQL(sp.t))
	sp.halt()
	<-done
	ferr := sp.failed()
	if err == nil && ferr == nil {
		ferr = sp.fix() // before the ranges' sums are merged
	}
	sp.merge(ferr)
	switch {
	case err != nil && ctx.Err() != nil:
		// A cancelled COPY can surface as a write on the closed connection.
		return fmt.Errorf("copy into %s: %w", sp.t.name, ctx.Err())
	case ferr != nil:
		return ferr
	case err != nil:
		return fmt.Errorf("copy into %s: %w", sp.t.name, err)
	}
	if err := sp.copyParent(ctx, conn); err != nil {
		return err
	}
	return copySums(ctx, conn, sp.fls[0])
}

// parse parses range i, sending the streamed table's batches to out.
func (sp *splitLoad) parse(ctx context.Context, i int) {
	defer sp.wg.Done()
	if err := sp.parseRange(ctx, i); err != nil {
		sp.errs[i] = err
		sp.halt()
	}
}

func (sp *splitLoad) parseRange(ctx context.Context, i int) error {
	fl := sp.fls[i]
	for {
		rec, err := fl.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if sp.seen != nil && sp.seen.full.Load() {
			rec.Release()
			return nil // failed says so
		}
		if fl.child == nil && fl.spool != nil {
			b := encodeRecord(getBuf(), fl.c.parent, rec)
			rec.Release()
			_, err := fl.spool.Write(b)
			putBuf(b)
			if err != nil {
				return err
			}
			continue
		}
		b := encodeRecord(getBuf(), fl.streamed(), rec)
		rec.Release()
		select {
		case sp.out <- b:
		case <-sp.stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fl.err != nil {
		return fl.err
	}
	if i < len(sp.fls)-1 && fl.rd.cut {
		return fmt.Errorf("%w: its range %d ends inside a quoted field", errSplit, i+1)
	}
	return nil
}

// chunkReader is the COPY data of the streamed table: the header, the
// ranges' batches as they come, and the trailer once every range is done.
type chunkReader struct {
	sp    *splitLoad
	buf   []byte
	off   int
	owned bool // buf is a pooled buffer
	done  bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		if r.owned {
			putBuf(r.buf)
		}
		b, ok := <-r.sp.out
		if !ok {
			if err := r.sp.failed(); err != nil {
				return 0, err
			}
			b, r.done = copyTrailer, true
		}
		r.buf, r.off, r.owned = b, 0, ok
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// same checks that every range held the bytes that were hashed.
func (sp *splitLoad) same() error {
	for _, r := range sp.readers {
		if err := r.same(); err != nil {
			return err
		}
	}
	return nil
}

// merge adds the counts, rejects, days and sums of every range into the
// first's, as a whole-file load would have them; err is the ranges'.
func (sp *splitLoad) merge(err error) {
	f := sp.fls[0]
	f.err = err
	for _, o := range sp.fls[1:] {
		f.rows, f.items, f.fieldCounts = f.rows+o.rows, f.items+o.items, f.fieldCounts+o.fieldCounts
		f.rejects = append(f.rejects, o.rejects...)
		for d := range o.days {
			f.days[d] = true
		}
		f.print.rows, f.print.x, f.print.s = f.print.rows+o.print.rows, f.print.x^o.print.x, f.print.s+o.print.s
		for k, s := range o.sums {
			if f.sums == nil {
				f.sums = map[string]*itemSum{}
			}
			if t, ok := f.sums[k]; ok {
				t.count, t.sum = t.count+s.count, t.sum+s.sum
			} else {
				f.sums[k] = s
			}
		}
		for k, s := range o.rowSums {
			if f.rowSums == nil {
				f.rowSums = map[string]*rowSum{}
			}
			t, ok := f.rowSums[k]
			if !ok {
				f.rowSums[k] = s
				continue
			}
			t.count, t.repeats = t.count+s.count, t.repeats+s.repeats
			for n := range t.sums {
				t.sums[n] += s.sums[n]
			}
		}
	}
}

// fix sets repeated the rows said not to repeat, that an earlier line of
// another range did: in their range's spool, and in their row sums.
func (sp *splitLoad) fix() error {
	if sp.seen == nil || len(sp.seen.fixes) == 0 {
		return nil
	}
	lines := make([]map[int32]bool, len(sp.fls))
	for _, at := range sp.seen.fixes {
		// The range whose lines hold it: the last to start before it.
		rng := sort.Search(len(sp.readers), func(i int) bool { return sp.readers[i].at.line >= int(at.line) }) - 1
		if at.sum >= 0 {
			sp.fls[rng].rowSumList[at.sum].repeats++
		}
		if lines[rng] == nil {
			lines[rng] = map[int32]bool{}
		}
		lines[rng][at.line] = true
	}
	for i, fl := range sp.fls {
		if lines[i] != nil {
			if fl.spool == nil { // put first, the first range's rows are never set
				return fmt.Errorf("set repeated rows: range %d was streamed", i+1)
			}
			if err := fl.spool.patch(fl.c.repeatAt, lines[i]); err != nil {
				return fmt.Errorf("set repeated rows: %w", err)
			}
		}
	}
	return nil
}

// copyParent copies the ranges' spooled parent rows, in the ranges' order.
func (sp *splitLoad) copyParent(ctx context.Context, conn *pgconn.PgConn) error {
	f := sp.fls[len(sp.fls)-1]
	if f.spool == nil {
		return nil
	}
	rs := []io.Reader{bytes.NewReader(copyHeader)}
	for _, fl := range sp.fls {
		if fl.spool == nil {
			continue // the first range's rows, streamed
		}
		r, err := fl.spool.reader()
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	rs = append(rs, bytes.NewReader(copyTrailer))
	if _, err := conn.CopyFrom(ctx, io.MultiReader(rs...), copySQL(f.c.parent)); err != nil {
		return fmt.Errorf("copy into %s: %w", f.c.parent.name, err)
	}
	return nil
}

// patch sets to true the boolean column col of the spooled rows whose
// line (column 1) is in lines; the spool is a file's.
func (s *spool) patch(col int, lines map[int32]bool) error {
	if s.file == nil {
		return errors.New("a spool in memory")
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var offs []int64
	br := bufio.NewReaderSize(s.file, 1<<16)
	var off int64
	var b [4]byte
	for {
		if _, err := io.ReadFull(br, b[:2]); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		off += 2
		var line int32
		at := int64(-1)
		for i := range int(binary.BigEndian.Uint16(b[:2])) {
			if _, err := io.ReadFull(br, b[:4]); err != nil {
				return err
			}
			off += 4
			n := int32(binary.BigEndian.Uint32(b[:4]))
			switch {
			case n < 0:
				continue
			case i == 1:
				if _, err := io.ReadFull(br, b[:4]); err != nil {
					return err
				}
				line = int32(binary.BigEndian.Uint32(b[:4]))
			default:
				if i == col {
					at = off
				}
				if _, err := br.Discard(int(n)); err != nil {
					return err
				}
			}
			off += int64(n)
		}
		if at >= 0 && lines[line] {
			offs = append(offs, at)
		}
	}
	for _, o := range slices.Compact(offs) {
		if _, err := s.file.WriteAt([]byte{1}, o); err != nil {
			return err
		}
	}
	return nil
}

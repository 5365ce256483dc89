package loaders

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
)

// batchRows is how many rows an Arrow record holds: big enough that the
// per-record cost vanishes, small enough that memory stays flat.
const batchRows = 8192

// fileLoad turns one file into Arrow records of its staging tables. The
// streamed table (the items table when there is one, else the parent) is
// pulled by COPY through next; the other is encoded into a spool.
type fileLoad struct {
	c      *contract
	rd     *csvReader
	loadID int64
	name   string

	parent, child *array.RecordBuilder
	spool         *spool
	spoolBuf      []byte
	direct        *[]byte // when set, the parent's rows go here, not to the spool

	builders      []array.Builder // the parent's, by column
	childBuilders []array.Builder

	// The row being put: its key, line and day.
	key  [16]byte
	line int
	day  int32

	rows, items int64
	itemText    []byte // the row's items as an items column holds them
	// sums are the file's items counted and summed by sumKey (when the
	// items declare sums); sumKey is the key of the item being put.
	sums   map[string]*itemSum
	sumKey []byte
	// rowSums are the file's rows counted and summed by rowKey (when the
	// source declares sums).
	rowSums map[string]*rowSum
	rowKey  []byte
	days    map[int32]bool // the days of the rows loaded
	// seen holds the row ids of the file so far, to tell a row that
	// repeats an earlier one (when the source asks), until it is full.
	seen        map[[16]byte]struct{}
	seenFull    bool
	maxSeen     int
	print       fingerprint // of the rows' keys
	rejects     []ledger.Reject
	fieldCounts int64 // rejects for a wrong field count
	header      bool
	err         error
	// split is set when the file is one range of a split file: its
	// repeats are told by the ids of every range (see split.go).
	split *seenSet
	// rowSumList holds rowSums' values by their idx.
	rowSumList []*rowSum
}

func newFileLoad(c *contract, r io.Reader, loadID int64, name string) *fileLoad {
	mem := allocator
	if dec := decoder(c.src.Encoding); dec != nil {
		r = transform.NewReader(r, dec.NewDecoder())
	}
	c.nameFile(name)
	f := &fileLoad{c: c, rd: newCSVReader(r, c.limits.Line), loadID: loadID, name: name, maxSeen: maxSeen,
		parent: array.NewRecordBuilder(mem, c.parent.schema), header: c.src.Header != config.HeaderNo, days: map[int32]bool{}}
	f.builders = f.parent.Fields()
	if c.child != nil {
		f.child = array.NewRecordBuilder(mem, c.child.schema)
		f.childBuilders = f.child.Fields()
		f.spool = &spool{}
	}
	return f
}

// newFileLoad is newFileLoad with the test's bound on the ids it keeps,
// when a test sets one.
func (h *hooks) newFileLoad(c *contract, r io.Reader, loadID int64, name string) *fileLoad {
	fl := newFileLoad(c, r, loadID, name)
	if h.maxSeen > 0 {
		fl.maxSeen = h.maxSeen
	}
	return fl
}

func (f *fileLoad) release() {
	f.parent.Release()
	if f.child != nil {
		f.child.Release()
		f.spool.close()
	}
	if f.spoolBuf != nil {
		putBuf(f.spoolBuf)
	}
	f.rd.release()
}

// streamed is the table that COPY reads through next.
func (f *fileLoad) streamed() *table {
	if f.c.child != nil {
		return f.c.child
	}
	return f.c.parent
}

// next parses rows until the streamed table has a full batch, and returns
// it; io.EOF when the file is done.
func (f *fileLoad) next() (arrow.Record, error) {
	out := f.parent
	if f.child != nil {
		out = f.child
	}
	for out.Field(0).Len() < batchRows {
		fields, line, err := f.rd.Read()
		if err == io.EOF {
			break
		}
		var se *syntaxError
		if errors.As(err, &se) {
			r := ledger.Reject{Line: line, Col: se.col, Reason: "not CSV: " + se.msg, Raw: "(withheld: the row could not be split into fields)"}
			if se.col >= 1 && se.col <= len(f.c.src.Columns) {
				r.Column = f.c.src.Columns[se.col-1].Name
			}
			f.reject(r, nil)
			continue
		}
		var long *tooLongError
		if errors.As(err, &long) {
			f.reject(ledger.Reject{Line: line, Reason: long.Error(), Raw: "(withheld: the line is too long)"}, nil)
			continue
		}
		if err != nil {
			f.err = err
			return nil, err
		}
		if f.header {
			f.header = false
			if f.c.src.Header == config.HeaderYes || f.looksLikeHeader(fields) {
				if reason := f.c.wrongHeader(fields); reason != "" {
					f.err = &RefusedError{Path: f.name, Reason: reason}
					return nil, f.err
				}
				continue
			}
		}
		f.row(fields, line)
		if f.child != nil && f.parent.Field(0).Len() >= batchRows {
			f.flushParent()
		}
	}
	if out.Field(0).Len() == 0 {
		if f.child != nil {
			f.flushParent()
		}
		return nil, io.EOF
	}
	return out.NewRecord(), nil
}

// encodeAll parses the whole file and appends its rows in binary COPY
// format, without COPY's header and trailer, to buf: the source's table,
// its items table, its items' sums and its rows' sums, as the contract has
// them.
func (f *fileLoad) encodeAll(buf *arenas) error {
	f.direct = &buf.parent
	for {
		rec, err := f.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if f.child != nil {
			buf.child = encodeRecord(buf.child, f.c.child, rec)
		} else {
			buf.parent = encodeRecord(buf.parent, f.c.parent, rec)
		}
		rec.Release()
	}
	if f.err != nil {
		return f.err
	}
	var err error
	if f.c.sums != nil {
		if buf.sums, err = f.encodeSums(buf.sums); err != nil {
			return err
		}
	}
	if f.c.rowSums != nil {
		buf.rowSums, err = f.encodeRowSums(buf.rowSums)
	}
	return err
}

func (f *fileLoad) flushParent() {
	if f.parent.Field(0).Len() == 0 {
		return
	}
	rec := f.parent.NewRecord()
	if f.direct != nil {
		*f.direct = encodeRecord(*f.direct, f.c.parent, rec)
		rec.Release()
		return
	}
	if f.spoolBuf == nil {
		f.spoolBuf = getBuf()
	}
	f.spoolBuf = encodeRecord(f.spoolBuf[:0], f.c.parent, rec)
	rec.Release()
	if _, err := f.spool.Write(f.spoolBuf); err != nil && f.err == nil {
		f.err = err
	}
}

// looksLikeHeader reports whether a first line is column names rather than
// data: it breaks the contract and not one of its typed fields parses.
func (f *fileLoad) looksLikeHeader(fields []string) bool {
	if _, rerr := f.c.parse(fields); rerr == nil {
		return false
	}
	c := f.c
	for i, col := range c.src.Columns {
		k := c.kinds[i]
		if i >= len(fields) || !k.typed {
			continue
		}
		var v value
		if k.parse(c, i, col, fields[i], &v) == nil {
			return false
		}
	}
	return true
}

// reject counts a rejected row. What is said of it leaves the loader
// scrubbed (see scrub): its row of the values of the row's personal
// fields, when it could be split into them. Its reason is made of the
// contract's words, never the file's, and a personal value may be one of
// them (a card column holding CARD): masking it there would garble the
// rule.
func (f *fileLoad) reject(r ledger.Reject, fields []string) {
	f.rows++
	r.Reason = scrub(r.Reason, nil, f.c.limits.Reason)
	r.Raw = scrub(r.Raw, f.c.personal(fields), f.c.limits.Reason)
	f.rejects = append(f.rejects, r)
}

func (f *fileLoad) row(fields []string, line int) {
	key, rerr := f.c.parse(fields)
	if rerr != nil {
		if rerr.col == 0 {
			f.fieldCounts++
		}
		f.reject(ledger.Reject{Line: line, Col: rerr.col, Column: rerr.column, Reason: rerr.reason, Raw: f.c.mask(fields, rerr.col)}, fields)
		return
	}
	f.rows++
	f.print.add(key)
	c := f.c
	f.key, f.line, f.day = key, line, 0
	if c.dateAt >= 0 {
		f.day = c.vals[c.dateAt].day()
		f.days[f.day] = true
	}
	p := f.parent
	p.Field(0).(*array.Int64Builder).Append(f.loadID)
	p.Field(1).(*array.Int32Builder).Append(int32(line))
	p.Field(2).(*array.FixedSizeBinaryBuilder).Append(key[:])
	for i := range c.src.Columns {
		span := c.spans[i]
		c.put(f, f.builders[span[0]:span[1]], i, &c.vals[i])
	}
	var sum *rowSum
	if c.rowSums != nil {
		sum = f.rowSumOf()
	}
	// The repeated column's builder is filled after the others: a column's
	// builders take their values in any order within a row.
	flagged := false
	if c.repeatAt >= 0 {
		b := p.Field(c.repeatAt).(*array.BooleanBuilder)
		if f.split != nil {
			idx := int32(-1)
			if sum != nil {
				idx = sum.idx
			}
			flagged = f.split.put(b, key, line, idx)
		} else {
			flagged = f.putRepeated(b, key)
		}
	}
	if sum != nil {
		f.addRowSum(sum, flagged)
	}
}

// maxSeen bounds the ids a file's repeats are told by: a million ids take
// some 50 MiB. Past it, the rest of the file's rows say NULL: unknown.
const maxSeen = 1 << 20

// putRepeated says whether the row's id came earlier in the file, and
// returns true unless it surely did not (repeated, or NULL: unknown).
func (f *fileLoad) putRepeated(b *array.BooleanBuilder, key [16]byte) bool {
	if f.seenFull {
		b.AppendNull()
		return true
	}
	if f.seen == nil {
		f.seen = map[[16]byte]struct{}{}
	}
	if _, dup := f.seen[key]; dup {
		b.Append(true)
		return true
	}
	if len(f.seen) == f.maxSeen {
		f.seen, f.seenFull = nil, true
		b.AppendNull()
		return true
	}
	f.seen[key] = struct{}{}
	b.Append(false)
	return false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// decoder is the charmap of a source's declared encoding; nil for UTF-8.
func decoder(encoding string) *charmap.Charmap {
	switch encoding {
	case config.Windows1252:
		return charmap.Windows1252
	case config.Latin1:
		return charmap.ISO8859_1
	}
	return nil
}

func (c *contract) hashPersonal(s string) string {
	c.mac.Reset()
	c.mac.Write([]byte(s))
	return fmt.Sprintf("%x", c.mac.Sum(nil)[:16])
}

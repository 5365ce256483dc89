package loaders

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/percolate/percolate/internal/pg"
)

// PostgreSQL's binary COPY format: a signature, flags and a header
// extension length; then per row a field count and per field a length and
// the value in the type's binary send format; then -1.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends binary COPY data: a row of -1 fields.
var copyTrailer = []byte{0xff, 0xff}

// Microseconds and days between the Unix epoch and PostgreSQL's (2000-01-01).
const (
	pgEpochMicros = 946684800 * 1000000
	pgEpochDays   = 10957
)

// copySQL is the COPY statement that reads t's columns in binary.
func copySQL(t *table) string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = pg.Ident(c.name)
	}
	return "COPY " + pg.Ident(strings.Split(t.name, ".")...) + " (" + strings.Join(names, ", ") + ") FROM STDIN (FORMAT binary)"
}

// encodeRecord appends rec's rows to b in binary COPY format, reading
// Arrow's columnar arrays directly: no per-value interface boxing.
func encodeRecord(b []byte, t *table, rec arrow.Record) []byte {
	n := int(rec.NumRows())
	cols := rec.Columns()
	for r := 0; r < n; r++ {
		b = binary.BigEndian.AppendUint16(b, uint16(len(cols)))
		for i, a := range cols {
			if a.IsNull(r) {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff)
				continue
			}
			c := &t.cols[i]
			b = c.typ.encode(b, a, r, c.scale)
		}
	}
	return b
}

// appendNumeric writes v / 10^scale in numeric's binary format: base-10000
// digits with a weight (the power of 10000 of the first digit), a sign and
// the display scale.
func appendNumeric(b []byte, v int64, scale int) []byte {
	var sign uint16
	u := uint64(v)
	if v < 0 {
		sign, u = 0x4000, uint64(-v)
	}
	ip, fp := u/uint64(pow10[scale]), u%uint64(pow10[scale])
	var digits [16]uint16
	nd := 0
	var intg [8]uint16
	ni := 0
	for ; ip > 0; ip /= 10000 {
		intg[ni] = uint16(ip % 10000)
		ni++
	}
	for i := ni - 1; i >= 0; i-- {
		digits[nd] = intg[i]
		nd++
	}
	fg := (scale + 3) / 4
	fp *= uint64(pow10[fg*4-scale])
	for i := fg - 1; i >= 0; i-- {
		digits[nd+i] = uint16(fp % 10000)
		fp /= 10000
	}
	nd += fg
	weight := ni - 1
	d := digits[:nd]
	for len(d) > 0 && d[0] == 0 {
		d = d[1:]
		weight--
	}
	for len(d) > 0 && d[len(d)-1] == 0 {
		d = d[:len(d)-1]
	}
	if len(d) == 0 {
		weight, sign = 0, 0
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+2*len(d)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d)))
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight)))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(scale))
	for _, x := range d {
		b = binary.BigEndian.AppendUint16(b, x)
	}
	return b
}

// copyReader is the io.Reader a COPY reads from: it pulls Arrow records
// from next on demand, so parsing runs as fast as the server takes rows
// and only one batch is in memory.
//
// pgconn may return from a COPY (on a cancelled context or a server error)
// while its goroutine is still inside Read, so close waits for any Read in
// progress and makes later ones fail: the batch builders can then be freed.
type copyReader struct {
	mu     sync.Mutex
	closed bool
	t      *table
	next   func() (arrow.Record, error)
	buf    []byte
	off    int
	done   bool
}

func newCopyReader(t *table, next func() (arrow.Record, error)) *copyReader {
	return &copyReader{t: t, next: next, buf: append(getBuf(), copyHeader...)}
}

// bufs recycles encoding buffers between files: a backfill loads thousands
// of small files, and growing a fresh buffer for each was most of the
// loader's allocation.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

func getBuf() []byte { return (*bufs.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if cap(b) <= 16<<20 {
		bufs.Put(&b)
	}
}

func (r *copyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errReaderClosed
	}
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		rec, err := r.next()
		if err == io.EOF {
			r.buf = append(r.buf, copyTrailer...)
			r.done = true
			continue
		}
		if err != nil {
			return 0, err
		}
		r.buf = encodeRecord(r.buf, r.t, rec)
		rec.Release()
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

var errReaderClosed = errors.New("copy reader closed")

func (r *copyReader) close() {
	r.mu.Lock()
	r.closed = true
	putBuf(r.buf)
	r.buf = nil
	r.mu.Unlock()
}

// spool keeps COPY data for a second table while the first streams: in
// memory up to a limit, then in a temporary file, so memory stays bounded
// whatever the file's size.
type spool struct {
	mem  bytes.Buffer
	file *os.File
}

const spoolMemory = 16 << 20

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) > spoolMemory {
		if err := s.toFile(); err != nil {
			return 0, err
		}
	}
	if s.file != nil {
		return s.file.Write(p)
	}
	return s.mem.Write(p)
}

// toFile moves the spool to a temporary file, unnamed: what it holds and
// all that is written to it after.
func (s *spool) toFile() error {
	f, err := os.CreateTemp("", "percolate-spool-")
	if err != nil {
		return err
	}
	os.Remove(f.Name())
	if _, err := f.Write(s.mem.Bytes()); err != nil {
		f.Close()
		return err
	}
	s.mem = bytes.Buffer{}
	s.file = f
	return nil
}

// reader rewinds the spool for reading.
func (s *spool) reader() (io.Reader, error) {
	if s.file == nil {
		return &s.mem, nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.file, nil
}

func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
	}
}

package loaders

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unsafe"
)

// ErrNotText is returned for a file that holds NUL bytes or is not UTF-8
// text: a binary file delivered by mistake.
var ErrNotText = errors.New("binary data")

// csvReader splits a CSV stream into records, leniently in the ways real
// cafe files need: a UTF-8 byte-order mark, LF or CRLF, spaces around
// fields and after a closing quote, whitespace-only lines. Fields are
// substrings of one string per record, so a record costs one allocation.
type csvReader struct {
	r      *bufio.Reader
	line   int // lines consumed so far
	start  bool
	rec    []byte
	fields []string
	long   []byte // a line longer than the buffer, gathered
	// max bounds a record's bytes: past it, what is left of the line is
	// skipped unread, so that memory is bounded whatever the file holds.
	max int
	// cut is set when the stream ended inside a quoted field: for a range
	// of a split file (see split.go), a sign that it ends mid-record.
	cut bool
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1<<16) }}

func newCSVReader(r io.Reader, max int) *csvReader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &csvReader{r: br, start: true, max: max}
}

// release returns the reader's buffer for the next file.
func (c *csvReader) release() {
	c.r.Reset(nil)
	readers.Put(c.r)
	c.r = nil
}

// syntaxError is a record that is not CSV (an unterminated quote, text after
// a closing quote); col is the 1-based field number.
type syntaxError struct {
	col int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// tooLongError is a record longer than the reader's max: the rest of its
// line was skipped, never held.
type tooLongError struct{ max int }

func (e *tooLongError) Error() string {
	return fmt.Sprintf("the line is longer than max_line_bytes (%d bytes); the rest of it was not read", e.max)
}

// Read returns the next record's fields and the line it starts on. A record
// with a CSV syntax error comes back with err a *syntaxError, one longer
// than max with a *tooLongError; io.EOF ends the stream. The fields are valid until the next Read, which reuses their
// memory: copy what must outlive it.
func (c *csvReader) Read() (fields []string, line int, err error) {
	for {
		c.rec = c.rec[:0]
		l, err := c.readLine()
		var long *tooLongError
		if errors.As(err, &long) {
			return nil, c.line, err
		}
		if err != nil {
			return nil, 0, err
		}
		line = c.line
		if isBlank(l) {
			continue
		}
		c.rec = append(c.rec, l...)
		for {
			// The fields are read before the next record overwrites rec:
			// no copy of each record is made.
			fields, more, serr := c.split(unsafe.String(unsafe.SliceData(c.rec), len(c.rec)))
			if serr != nil {
				return nil, line, serr
			}
			if !more {
				return fields, line, nil
			}
			// A quoted field runs on over the line break.
			next, err := c.readLine()
			if err == io.EOF {
				c.cut = true
				return nil, line, &syntaxError{col: len(fields) + 1, msg: "quoted field is never closed"}
			}
			if errors.As(err, &long) {
				return nil, line, cmp.Or(c.skipQuoted(), err)
			}
			if err != nil {
				return nil, line, err
			}
			if len(c.rec)+1+len(next) > c.max {
				if bytes.Count(next, quote)%2 == 0 { // the field is still open
					err = c.skipQuoted()
				}
				return nil, line, cmp.Or(err, error(&tooLongError{max: c.max}))
			}
			c.rec = append(c.rec, '\n')
			c.rec = append(c.rec, next...)
		}
	}
}

// readLine returns the next line without its line ending.
func (c *csvReader) readLine() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A long line: gather it whole, up to max.
		buf := append(c.long[:0], l...)
		for err == bufio.ErrBufferFull && len(buf) <= c.max+2 {
			l, err = c.r.ReadSlice('\n')
			buf = append(buf, l...)
		}
		l, c.long = buf, buf
	}
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, err
	}
	if len(bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))) > c.max {
		return nil, c.skipLine(err)
	}
	if len(l) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	c.line++
	if c.start {
		c.start = false
		l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
	}
	if bytes.IndexByte(l, 0) >= 0 {
		return nil, fmt.Errorf("%w: line %d holds NUL bytes", ErrNotText, c.line)
	}
	l = bytes.TrimSuffix(l, []byte("\n"))
	l = bytes.TrimSuffix(l, []byte("\r"))
	return l, nil
}

var quote = []byte{'"'}

// skipQuoted reads past the lines of a record too long to keep whose
// quoted field is still open, to the line where the field closes (an odd
// number of quotes on it), so that the rest of the field, which may be
// another column's personal data, is never read as records of its own.
func (c *csvReader) skipQuoted() error {
	for {
		l, err := c.readLine()
		var long *tooLongError
		switch {
		case err == io.EOF:
			c.cut = true
			return nil
		case errors.As(err, &long):
			continue // its quotes unread: taken as still inside the field
		case err != nil:
			return err
		case bytes.Count(l, quote)%2 == 1:
			return nil
		}
	}
}

// skipLine reads past the rest of a line too long to keep (err is how
// its last read ended) and counts it.
func (c *csvReader) skipLine(err error) error {
	for err == bufio.ErrBufferFull {
		_, err = c.r.ReadSlice('\n')
	}
	if err != nil && err != io.EOF {
		return err
	}
	c.line++
	c.start = false
	if cap(c.long) > c.max {
		c.long = nil // what one line took is not kept for the file
	}
	return &tooLongError{max: c.max}
}

func isBlank(l []byte) bool {
	return len(bytes.TrimSpace(l)) == 0
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

// split parses one record. more reports an open quote at the end: the
// record continues on the next line.
func (c *csvReader) split(s string) (fields []string, more bool, err error) {
	fields = c.fields[:0]
	defer func() { c.fields = fields[:0] }()
	i, n := 0, len(s)
	for {
		for i < n && isSpace(s[i]) {
			i++
		}
		if i < n && s[i] == '"' {
			i++
			var field string
			var b *strings.Builder
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return fields, true, nil
				}
				if i+j+1 < n && s[i+j+1] == '"' {
					if b == nil {
						b = &strings.Builder{}
					}
					b.WriteString(s[i : i+j+1])
					i += j + 2
					continue
				}
				if b != nil {
					b.WriteString(s[i : i+j])
					field = b.String()
				} else {
					field = s[i : i+j]
				}
				i += j + 1
				break
			}
			fields = append(fields, field)
			for i < n && isSpace(s[i]) {
				i++
			}
			if i == n {
				return fields, false, nil
			}
			if s[i] != ',' {
				return fields, false, &syntaxError{col: len(fields), msg: fmt.Sprintf("unexpected %q after a closing quote", s[i])}
			}
			i++
			continue
		}
		j := strings.IndexByte(s[i:], ',')
		if j < 0 {
			fields = append(fields, strings.TrimRight(s[i:], " \t"))
			return fields, false, nil
		}
		fields = append(fields, strings.TrimRight(s[i:i+j], " \t"))
		i += j + 1
	}
}

package loaders

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow/array"
)

// A big local file is split into byte ranges at line boundaries, one per
// job, parsed side by side and streamed into one COPY in the file's one
// transaction: parsing, not the server, is what a big file waits for.
//
// The ranges are found in the pass that hashes the file, which reads every
// byte anyway: at each range's target offset, the next line break outside
// quotes by the parity of the quotes before it. Quote parity is not the
// parser's rule (a quote inside an unquoted field is text), so each range
// but the last is checked to end outside a quoted field; one that does not
// gives the split up and the file is loaded again whole (errSplit). So is
// a file whose repeats outgrow maxSeen, which only a whole-file read can
// flag as it does.

// splitFrom is the least size of a file that is split by default: below
// it parsing takes under a second and the ranges' extra memory (a spool
// and batch builders each) is not worth it.
const splitFrom = 32 << 20

// errSplit is a split load given up, to be loaded again whole.
var errSplit = errors.New("the split of the file was given up")

// fileRange is one byte range of a split file.
type fileRange struct {
	start, end int64
	line       int    // lines before start
	sum        uint64 // maphash of its bytes, with the load's seed
}

// splits is how many ranges the file at path is split into: 0 when it is
// loaded whole.
func (ld *loading) splits(path string, info Stat) int {
	from := ld.opt.SplitFrom
	if from == 0 {
		from = splitFrom
	}
	if from < 0 || ld.opt.Jobs < 2 || IsS3(path) || info.Size < from {
		return 0
	}
	return ld.opt.Jobs
}

// scanRanges hashes the file at path as hash does, and finds n ranges of
// it; fewer when it has too few line breaks.
func scanRanges(ctx context.Context, path string, size int64, n int, seed maphash.Seed) (string, int64, *rangeScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, nil, err
	}
	defer f.Close()
	var rh maphash.Hash
	rh.SetSeed(seed)
	s := &rangeScan{n: n, size: size, h: &rh}
	// Read in big blocks: the scan of every block is a call apiece.
	sum, _, err := hashStream(ctx, bufio.NewReaderSize(f, 1<<20), s)
	if err != nil {
		return "", 0, nil, err
	}
	if s.start < s.off || len(s.ranges) == 0 {
		s.ranges = append(s.ranges, fileRange{start: s.start, end: s.off, line: s.startLine, sum: rh.Sum64()})
	}
	return sum, s.off, s, nil
}

// rangeScan finds a file's ranges in its bytes, read in order.
type rangeScan struct {
	n       int
	size    int64
	h       *maphash.Hash // of the range being read
	off     int64         // bytes read
	lines   int
	quoted  bool // an odd number of quotes since the last break found
	seeking bool // past the next range's target: at the next break outside quotes
	ranges  []fileRange

	start     int64
	startLine int
}

// target is the offset the next range should start at or after.
func (s *rangeScan) target() int64 {
	return s.size * int64(len(s.ranges)+1) / int64(s.n)
}

// Write scans b, the next bytes of the file.
func (s *rangeScan) Write(b []byte) (int, error) {
	s.scan(b)
	return len(b), nil
}

func (s *rangeScan) scan(b []byte) {
	from := 0 // of b, not yet hashed into the range being read
	for pos := 0; pos < len(b); {
		if !s.seeking {
			stop := len(b)
			if len(s.ranges) < s.n-1 {
				stop = int(min(int64(len(b)), max(int64(pos), s.target()-s.off)))
			}
			seg := b[pos:stop]
			s.lines += bytes.Count(seg, []byte{'\n'})
			s.quoted = s.quoted != (bytes.Count(seg, quote)%2 == 1)
			pos = stop
			s.seeking = stop < len(b) || (len(s.ranges) < s.n-1 && s.off+int64(stop) >= s.target())
			continue
		}
		c := b[pos]
		pos++
		switch {
		case c == '"':
			s.quoted = !s.quoted
		case c == '\n':
			s.lines++
			if s.quoted {
				continue
			}
			s.h.Write(b[from:pos])
			from = pos
			end := s.off + int64(pos)
			s.ranges = append(s.ranges, fileRange{start: s.start, end: end, line: s.startLine, sum: s.h.Sum64()})
			s.h.Reset()
			s.start, s.startLine, s.seeking = end, s.lines, false
		}
	}
	s.h.Write(b[from:])
	s.off += int64(len(b))
}

// rangeReader reads one range of a file, hashing what it reads.
type rangeReader struct {
	hashReader
	at  fileRange
	sum *maphash.Hash // hashReader's hash
}

// newRangeReader reads at of f; the last range reads on to the end of
// the file, so that a file that grew since it was hashed is told.
func newRangeReader(f *os.File, at fileRange, last bool, seed maphash.Seed) *rangeReader {
	n := at.end - at.start
	if last {
		n = math.MaxInt64 - at.start
	}
	sum := &maphash.Hash{}
	sum.SetSeed(seed)
	return &rangeReader{hashReader: hashReader{r: io.NewSectionReader(f, at.start, n), h: sum}, at: at, sum: sum}
}

// same reads what is left of the range and returns ErrChanged unless it
// held the bytes that were hashed.
func (r *rangeReader) same() error {
	if _, err := io.Copy(io.Discard, &r.hashReader); err != nil {
		return err
	}
	if r.n != r.at.end-r.at.start || r.sum.Sum64() != r.at.sum {
		return fmt.Errorf("%w (bytes %d to %d differ from those hashed)", ErrChanged, r.at.start, r.at.end)
	}
	return nil
}

// seenSet holds the row ids of every range of a split file, to tell which
// rows repeat an earlier one, as a whole-file load's seen map does. Ranges
// are parsed side by side, so a row may be put before an earlier line with
// its id: it was said not to repeat, and is set right before its rows and
// sums are copied (see fixes).
type seenSet struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[[16]byte]seenAt
	}
	n, max atomic.Int64
	full   atomic.Bool

	mu    sync.Mutex
	fixes []seenAt // rows said not to repeat that do
}

// seenAt is where an id was first seen: the line, and the row sum the
// row counted into (its index in its range's rowSumList; -1: none). Eight
// bytes, as a million of them are kept.
type seenAt struct {
	line, sum int32
}

// newSeenSet holds up to max ids; rows is how many the file may have
// (its lines): the maps are made about that big at once. A map's tables
// hold 1,024 slots, filled to 7/8, and are made a power of two at a time,
// so a map is made with the most whole tables under rows (those over
// would be nearly twice the memory, unfilled) and grows the few more by
// splitting them one at a time.
func newSeenSet(max, rows int) *seenSet {
	s := &seenSet{}
	s.max.Store(int64(max))
	per := min(max, rows) / len(s.shards)
	if tables := per * 8 / 7 / 1024; tables > 0 {
		per = 1 << (bits.Len(uint(tables)) - 1) * 1024 * 7 / 8
	}
	for i := range s.shards {
		s.shards[i].m = make(map[[16]byte]seenAt, per)
	}
	return s
}

// put says in b whether the row at line repeats an earlier row of the
// file, and returns true unless it surely does not; sum is its row sum's
// index. Past max ids the set is full, and the split is given up.
func (s *seenSet) put(b *array.BooleanBuilder, key [16]byte, line int, sum int32) bool {
	sh := &s.shards[key[0]%byte(len(s.shards))]
	here := seenAt{line: int32(line), sum: sum}
	sh.mu.Lock()
	at, ok := sh.m[key]
	switch {
	case ok && at.line < here.line:
		sh.mu.Unlock()
		b.Append(true)
		return true
	case ok: // this row is the earlier: the one seen repeats it
		sh.m[key] = here
		sh.mu.Unlock()
		s.mu.Lock()
		s.fixes = append(s.fixes, at)
		s.mu.Unlock()
		b.Append(false)
		return false
	}
	if s.n.Add(1) > s.max.Load() {
		sh.mu.Unlock()
		s.full.Store(true)
		b.AppendNull()
		return true
	}
	sh.m[key] = here
	sh.mu.Unlock()
	b.Append(false)
	return false
}

package loaders

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/percolate/percolate/internal/config"
)

// rowSumsPlan is how a contract fills the table of a file's rows summed
// (the source's sums): grouped by day, local hour and the by columns,
// counted, with the sum columns totalled.
type rowSumsPlan struct {
	by      []int    // source columns grouped by
	bySpans [][2]int // the sums table's columns each fills
	hour    bool
	sums    []int // source columns totalled: numeric, integer or items (their count)
	repeats bool
}

// rowSumColumns are the columns of a source's sums table, and how they
// are filled: the file, the day, the hour, the by columns, the count, the
// sums and the repeats, as the source declares them.
func rowSumColumns(src *config.Source, dateAt int) ([]column, *rowSumsPlan) {
	sm := src.Sums
	p := &rowSumsPlan{hour: sm.Hour != "", repeats: sm.Repeats != ""}
	index := func(name string) int {
		return slices.IndexFunc(src.Columns, func(c *config.Column) bool {
			return c.Name == name || c.Type == config.List && c.Items.Count == name
		})
	}
	cols := []column{{name: "load_id", typ: tInt8}}
	if dateAt >= 0 {
		cols = append(cols, column{name: src.Columns[dateAt].Date, typ: tDate})
	}
	if p.hour {
		cols = append(cols, column{name: sm.Hour, typ: tInt4})
	}
	for _, name := range sm.By {
		i := index(name)
		start := len(cols)
		cols = append(cols, columnsOf(src.Columns[i])...)
		p.by, p.bySpans = append(p.by, i), append(p.bySpans, [2]int{start, len(cols)})
	}
	cols = append(cols, column{name: sm.Count, typ: tInt4})
	for _, name := range sm.Sum {
		i := index(name)
		switch col := src.Columns[i]; col.Type {
		case config.List:
			cols = append(cols, column{name: name, typ: tInt4})
		case config.Integer:
			cols = append(cols, column{name: name, typ: tInt8})
		default:
			cols = append(cols, column{name: name, typ: tNumeric, scale: col.Scale})
		}
		p.sums = append(p.sums, i)
	}
	if p.repeats {
		cols = append(cols, column{name: sm.Repeats, typ: tInt4})
	}
	return cols, p
}

// rowSum is one row of a file's row sums.
type rowSum struct {
	day, hour      int32
	idx            int32 // in its file's rowSumList
	by             []value
	count, repeats int64
	sums           []int64
}

// rowSumOf is the row sum the row being put counts into.
func (f *fileLoad) rowSumOf() *rowSum {
	c, p := f.c, f.c.rowPlan
	var hour int32
	if p.hour {
		local := c.vals[c.dateAt].local
		hour = int32((local - floorDiv(local, 86400e6)*86400e6) / 3600e6)
	}
	k := binary.BigEndian.AppendUint32(f.rowKey[:0], uint32(f.day))
	k = append(k, byte(hour))
	k = c.appendKeys(k, p.by)
	f.rowKey = k
	s, ok := f.rowSums[string(k)]
	if !ok {
		if f.rowSums == nil {
			f.rowSums = map[string]*rowSum{}
		}
		s = &rowSum{day: f.day, hour: hour, by: c.keep(p.by), sums: make([]int64, len(p.sums)), idx: int32(len(f.rowSumList))}
		f.rowSums[string(k)] = s
		f.rowSumList = append(f.rowSumList, s)
	}
	return s
}

// addRowSum counts the row being put into its row sum s; flagged says
// whether its key marks it repeated or could not tell.
func (f *fileLoad) addRowSum(s *rowSum, flagged bool) {
	c, p := f.c, f.c.rowPlan
	s.count++
	if flagged {
		s.repeats++
	}
	for n, j := range p.sums {
		switch v := &c.vals[j]; {
		case c.src.Columns[j].Type == config.List:
			s.sums[n] += int64(len(v.items))
		case !v.null: // a NULL adds nothing
			s.sums[n] += v.num
		}
	}
}

// encodeRowSums appends the file's row sums to b in binary COPY format, in
// the order of their keys.
func (f *fileLoad) encodeRowSums(b []byte) ([]byte, error) {
	c, p, t := f.c, f.c.rowPlan, f.c.rowSums
	rb := array.NewRecordBuilder(allocator, t.schema)
	defer rb.Release()
	bs := rb.Fields()
	for _, k := range slices.Sorted(maps.Keys(f.rowSums)) {
		s := f.rowSums[k]
		i := 0
		bs[i].(*array.Int64Builder).Append(f.loadID)
		i++
		if c.dateAt >= 0 {
			bs[i].(*array.Date32Builder).Append(arrow.Date32(s.day))
			i++
		}
		if p.hour {
			bs[i].(*array.Int32Builder).Append(s.hour)
			i++
		}
		for n, j := range p.by {
			span := p.bySpans[n]
			c.put(f, bs[span[0]:span[1]], j, &s.by[n])
			i = span[1]
		}
		if s.count > math.MaxInt32 {
			return b, fmt.Errorf("%s: a sum of more than %d rows is too large for its columns", t.name, math.MaxInt32)
		}
		bs[i].(*array.Int32Builder).Append(int32(s.count))
		i++
		for n, j := range p.sums {
			v := s.sums[n]
			switch c.src.Columns[j].Type {
			case config.List:
				if v > math.MaxInt32 {
					return b, fmt.Errorf("%s: the sum of %s is too large for its column", t.name, t.cols[i].name)
				}
				bs[i].(*array.Int32Builder).Append(int32(v))
			case config.Integer:
				bs[i].(*array.Int64Builder).Append(v)
			default:
				if v > maxExact || v < -maxExact {
					return b, fmt.Errorf("%s: the sum of %s is too large for its column", t.name, t.cols[i].name)
				}
				bs[i].(*array.Decimal128Builder).Append(decimal128.FromI64(v))
			}
			i++
		}
		if p.repeats {
			bs[i].(*array.Int32Builder).Append(int32(s.repeats))
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	return encodeRecord(b, t, rec), nil
}

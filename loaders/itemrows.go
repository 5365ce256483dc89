package loaders

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/percolate/percolate/internal/config"
)

// fieldColumn is the staging column of an item field: text (nullable when
// the field is optional), numeric of its scale, or bigint.
func fieldColumn(f *config.ItemField) column {
	switch f.Type {
	case config.Numeric:
		return column{name: f.Name, typ: tNumeric, scale: f.Scale}
	case config.Integer:
		return column{name: f.Name, typ: tInt8}
	}
	return column{name: f.Name, typ: tText, nullable: f.Optional}
}

// putField appends field j of it to b, a builder of its fieldColumn.
func putField(b array.Builder, f *config.ItemField, it *item, j int) {
	switch f.Type {
	case config.Numeric:
		b.(*array.Decimal128Builder).Append(decimal128.FromI64(it.num[j]))
	case config.Integer:
		b.(*array.Int64Builder).Append(it.num[j])
	default:
		if it.str[j] == "" { // an optional field left empty
			b.AppendNull()
		} else {
			b.(*array.StringBuilder).Append(it.str[j])
		}
	}
}

// itemColumns are the columns of an items table after its lineage and the
// row key: the item's number in its row, its fields, and its row's day
// when the source derives one.
func itemColumns(src *config.Source, it *config.Items, dateAt int) []column {
	cols := []column{{name: "item_no", typ: tInt4}}
	for _, f := range it.Fields {
		cols = append(cols, fieldColumn(f))
	}
	if dateAt >= 0 {
		cols = append(cols, column{name: src.Columns[dateAt].Date, typ: tDate})
	}
	return cols
}

// itemSumsPlan is how a contract fills the table of a file's items
// summed: grouped by day and the by columns, counted, with one item field
// totalled.
type itemSumsPlan struct {
	by      []itemBy
	rowCols []int // the source columns among by, in order
	of      int   // the item field totalled
}

// itemBy is a column the items' sums are by: an item field (field >= 0)
// or a column of the row (col >= 0), and the sums table's columns it fills.
type itemBy struct {
	field, col int
	span       [2]int
}

// itemSumColumns are the columns of an items' sums table, and how they
// are filled: the file, the day, the by columns, how many such items and
// the total of the field summed.
func itemSumColumns(src *config.Source, it *config.Items, dateAt int) ([]column, *itemSumsPlan) {
	sm := it.Sums
	p := &itemSumsPlan{of: it.Field(sm.Of)}
	cols := []column{{name: "load_id", typ: tInt8}}
	if dateAt >= 0 {
		cols = append(cols, column{name: src.Columns[dateAt].Date, typ: tDate})
	}
	for _, name := range sm.By {
		b := itemBy{field: it.Field(name), col: -1}
		start := len(cols)
		if b.field >= 0 {
			cols = append(cols, fieldColumn(it.Fields[b.field]))
		} else {
			b.col = slices.IndexFunc(src.Columns, func(c *config.Column) bool { return c.Name == name })
			cols = append(cols, columnsOf(src.Columns[b.col])...)
			p.rowCols = append(p.rowCols, b.col)
		}
		b.span = [2]int{start, len(cols)}
		p.by = append(p.by, b)
	}
	total := fieldColumn(it.Fields[p.of])
	total.name = sm.Sum
	return append(cols, column{name: sm.Count, typ: tInt4}, total), p
}

// itemSum is one row of a file's items' sums: items alike in the by
// columns, counted, with their field summed.
type itemSum struct {
	day        int32
	it         item    // the by fields' values
	row        []value // the by columns' of the row
	count, sum int64
}

// appendItems counts the items of the row being put into the file's sums
// and writes them to the child table, when they have one.
func (f *fileLoad) appendItems(items []item) {
	f.items += int64(len(items))
	for n := range items {
		if f.c.sums != nil {
			f.addSum(&items[n])
		}
		if f.child != nil {
			f.appendItemRow(n+1, &items[n])
		}
	}
}

// appendItemRow writes item number n of the row being put to the child
// table.
func (f *fileLoad) appendItemRow(n int, it *item) {
	ch, fields := f.child, f.c.items.fields
	ch.Field(0).(*array.Int64Builder).Append(f.loadID)
	ch.Field(1).(*array.Int32Builder).Append(int32(f.line))
	ch.Field(2).(*array.FixedSizeBinaryBuilder).Append(f.key[:])
	ch.Field(3).(*array.Int32Builder).Append(int32(n))
	for j, fd := range fields {
		putField(ch.Field(4+j), fd, it, j)
	}
	if f.c.dateAt >= 0 {
		ch.Field(4 + len(fields)).(*array.Date32Builder).Append(arrow.Date32(f.day))
	}
	for k, j := range f.c.carried {
		span := f.c.carrySpans[k]
		f.c.put(f, f.childBuilders[span[0]:span[1]], j, &f.c.vals[j])
	}
}

// addSum counts an item of the row being put into the file's sums.
func (f *fileLoad) addSum(it *item) {
	c, p := f.c, f.c.sumPlan
	k := binary.BigEndian.AppendUint32(f.sumKey[:0], uint32(f.day))
	for _, b := range p.by {
		switch {
		case b.field >= 0 && c.items.text[b.field]:
			k = append(append(k, it.str[b.field]...), 0x1f)
		case b.field >= 0:
			k = append(c.items.appendField(k, it, b.field), 0x1f)
		default:
			k = append(c.appendKey(k, b.col, &c.vals[b.col]), 0x1e)
		}
	}
	f.sumKey = k
	s, ok := f.sums[string(k)]
	if !ok {
		if f.sums == nil {
			f.sums = map[string]*itemSum{}
		}
		s = &itemSum{day: f.day, row: c.keep(p.rowCols)}
		for _, b := range p.by {
			if b.field >= 0 {
				s.it.str[b.field], s.it.num[b.field] = strings.Clone(it.str[b.field]), it.num[b.field]
			}
		}
		f.sums[string(k)] = s
	}
	s.count++
	s.sum += it.num[p.of]
}

// encodeSums appends the file's sums to b in binary COPY format, in the
// order of their keys.
func (f *fileLoad) encodeSums(b []byte) ([]byte, error) {
	c, p := f.c, f.c.sumPlan
	rb := array.NewRecordBuilder(allocator, c.sums.schema)
	defer rb.Release()
	bs := rb.Fields()
	total := c.items.fields[p.of]
	for _, k := range slices.Sorted(maps.Keys(f.sums)) {
		s := f.sums[k]
		if s.count > math.MaxInt32 || s.sum > maxExact || s.sum < -maxExact {
			return b, fmt.Errorf("%s: the items' sums are too large for their columns", c.sums.name)
		}
		bs[0].(*array.Int64Builder).Append(f.loadID)
		if c.dateAt >= 0 {
			bs[1].(*array.Date32Builder).Append(arrow.Date32(s.day))
		}
		i, row := len(bs)-2, 0
		for _, by := range p.by {
			if by.field >= 0 {
				putField(bs[by.span[0]], c.items.fields[by.field], &s.it, by.field)
			} else {
				c.put(f, bs[by.span[0]:by.span[1]], by.col, &s.row[row])
				row++
			}
		}
		bs[i].(*array.Int32Builder).Append(int32(s.count))
		sum := item{}
		sum.num[p.of] = s.sum
		putField(bs[i+1], total, &sum, p.of)
	}
	rec := rb.NewRecord()
	defer rec.Release()
	return encodeRecord(b, c.sums, rec), nil
}

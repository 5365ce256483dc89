package loaders

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/percolate/percolate/internal/config"
)

// A kind is what a source column can be declared as: how a field of it is
// parsed, how it takes part in a row key, and which staging columns it
// fills. Every place that treats columns by type consults kindOf, so a new
// column type is one entry here.
type kind struct {
	// parse reads field f of column i into v; the error says what is
	// wrong with f.
	parse func(c *contract, i int, col *config.Column, f string, v *value) error
	// key appends v's canonical form: the same value gives the same bytes
	// however its file spelt it (5.2 and 5.20, padding, layouts).
	key func(c *contract, b []byte, col *config.Column, v *value) []byte
	// columns are the staging columns it fills, in order.
	columns func(col *config.Column) []column
	// put appends v to the builders of those columns.
	put func(f *fileLoad, bs []array.Builder, col *config.Column, v *value)
	// typed is true when a column name (a header) would not parse as it.
	typed bool
}

var kinds = map[string]*kind{
	config.Text: {
		// The errors name the rule, never the value: in a file whose
		// columns are swapped it may be another column's personal data.
		parse: func(c *contract, i int, col *config.Column, f string, v *value) error {
			if len(col.Values) > 0 && !slices.Contains(col.Values, f) {
				return fmt.Errorf("is not one of %s", strings.Join(col.Values, ", "))
			}
			if f == "" {
				return fmt.Errorf("is empty")
			}
			if col.Re != nil && !col.Re.MatchString(f) {
				return fmt.Errorf("does not match the pattern %s", col.Pattern)
			}
			if !c.agrees(i, f) {
				return fmt.Errorf("does not agree with the file's name (%s, by file_name)", c.named[i])
			}
			return nil
		},
		key:     func(_ *contract, b []byte, _ *config.Column, v *value) []byte { return append(b, v.str...) },
		columns: func(col *config.Column) []column { return []column{{name: col.Name, typ: tText}} },
		put: func(_ *fileLoad, bs []array.Builder, _ *config.Column, v *value) {
			bs[0].(*array.StringBuilder).Append(v.str)
		},
	},
	config.Integer: {
		parse: func(_ *contract, _ int, _ *config.Column, f string, v *value) error {
			n, err := parseInteger(f)
			if err != nil {
				return err
			}
			v.num = n
			return nil
		},
		key:     func(_ *contract, b []byte, _ *config.Column, v *value) []byte { return strconv.AppendInt(b, v.num, 10) },
		columns: func(col *config.Column) []column { return []column{{name: col.Name, typ: tInt8}} },
		put: func(_ *fileLoad, bs []array.Builder, _ *config.Column, v *value) {
			bs[0].(*array.Int64Builder).Append(v.num)
		},
		typed: true,
	},
	config.Numeric: {
		parse: func(c *contract, i int, col *config.Column, f string, v *value) error {
			n, err := parseDecimal(f, col.Scale, c.digits[i])
			if err != nil {
				return err
			}
			v.num = n
			return nil
		},
		key: func(_ *contract, b []byte, col *config.Column, v *value) []byte {
			return appendDecimal(b, v.num, col.Scale)
		},
		columns: func(col *config.Column) []column { return []column{{name: col.Name, typ: tNumeric, scale: col.Scale}} },
		put: func(_ *fileLoad, bs []array.Builder, _ *config.Column, v *value) {
			bs[0].(*array.Decimal128Builder).Append(decimal128.FromI64(v.num))
		},
		typed: true,
	},
	config.Timestamp: {
		parse: func(c *contract, i int, col *config.Column, f string, v *value) error {
			if err := c.parseTime(i, col, f, v); err != nil {
				return fmt.Errorf("does not match %s", strings.Join(col.Layouts, " or "))
			}
			return nil
		},
		key: func(_ *contract, b []byte, _ *config.Column, v *value) []byte { return strconv.AppendInt(b, v.at, 10) },
		columns: func(col *config.Column) []column {
			cols := []column{{name: col.Name, typ: tTimestampTZ}}
			if col.Local != "" {
				cols = append(cols, column{name: col.Local, typ: tTimestamp})
			}
			if col.Date != "" {
				cols = append(cols, column{name: col.Date, typ: tDate})
			}
			return cols
		},
		put: func(_ *fileLoad, bs []array.Builder, col *config.Column, v *value) {
			bs[0].(*array.TimestampBuilder).Append(arrow.Timestamp(v.at))
			i := 1
			if col.Local != "" {
				bs[i].(*array.TimestampBuilder).Append(arrow.Timestamp(v.local))
				i++
			}
			if col.Date != "" {
				bs[i].(*array.Date32Builder).Append(arrow.Date32(v.day()))
			}
		},
		typed: true,
	},
	config.List: {
		parse: func(c *contract, _ int, _ *config.Column, f string, v *value) error {
			items, err := c.items.parse(f, v.items)
			v.items = items
			return err
		},
		key: func(c *contract, b []byte, _ *config.Column, v *value) []byte {
			return c.items.appendKey(b, v.items)
		},
		// The items go to a child table of their own (see itemColumns) or
		// to a text column of the row; the row keeps their count when the
		// contract names a column for it.
		columns: func(col *config.Column) []column {
			var cols []column
			if col.Items.Count != "" {
				cols = append(cols, column{name: col.Items.Count, typ: tInt4})
			}
			if col.Items.Column != "" {
				cols = append(cols, column{name: col.Items.Column, typ: tText})
			}
			return cols
		},
		put: func(f *fileLoad, bs []array.Builder, col *config.Column, v *value) {
			if col.Items.Count != "" {
				bs[0].(*array.Int32Builder).Append(int32(len(v.items)))
			}
			if col.Items.Column != "" {
				f.itemText = f.c.items.appendText(f.itemText[:0], v.items)
				bs[len(bs)-1].(*array.StringBuilder).BinaryBuilder.Append(f.itemText)
			}
			f.appendItems(v.items)
		},
	},
}

// Personal data is treated before its type: dropped, it fills nothing;
// hashed, it fills a text column with its keyed hash.
var (
	dropped = &kind{
		parse:   func(*contract, int, *config.Column, string, *value) error { return nil },
		key:     func(_ *contract, b []byte, _ *config.Column, v *value) []byte { return append(b, v.str...) },
		columns: func(*config.Column) []column { return nil },
		put:     func(*fileLoad, []array.Builder, *config.Column, *value) {},
	}
	hashed = &kind{
		parse:   dropped.parse,
		key:     dropped.key,
		columns: func(col *config.Column) []column { return []column{{name: col.Name, typ: tText}} },
		put: func(f *fileLoad, bs []array.Builder, _ *config.Column, v *value) {
			bs[0].(*array.StringBuilder).Append(f.c.hashPersonal(v.str))
		},
	}
)

// kindOf is the kind of a column as declared. config has checked the type.
func kindOf(col *config.Column) *kind {
	switch col.Personal {
	case config.Drop:
		return dropped
	case config.Hash:
		return hashed
	}
	return kinds[col.Type]
}

// A colType is a staging column's type: its PostgreSQL type, its Arrow
// type and how a value is written in binary COPY.
type colType struct {
	// name is PostgreSQL's name for the type (pg_type.typname), as
	// information_schema's udt_name and the parser of migrations give it.
	name string
	// sql declares a column of it in a migration.
	sql    func(scale int) string
	arrow  func(scale int) arrow.DataType
	encode func(b []byte, a arrow.Array, row, scale int) []byte
}

func fixed(name string) func(int) string { return func(int) string { return name } }

var (
	tText = &colType{name: "text", sql: fixed("text"),
		arrow: func(int) arrow.DataType { return arrow.BinaryTypes.String },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			s := a.(*array.String).Value(r)
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			return append(b, s...)
		}}
	tInt8 = &colType{name: "int8", sql: fixed("bigint"),
		arrow: func(int) arrow.DataType { return arrow.PrimitiveTypes.Int64 },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			b = binary.BigEndian.AppendUint32(b, 8)
			return binary.BigEndian.AppendUint64(b, uint64(a.(*array.Int64).Value(r)))
		}}
	tInt4 = &colType{name: "int4", sql: fixed("integer"),
		arrow: func(int) arrow.DataType { return arrow.PrimitiveTypes.Int32 },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			b = binary.BigEndian.AppendUint32(b, 4)
			return binary.BigEndian.AppendUint32(b, uint32(a.(*array.Int32).Value(r)))
		}}
	tNumeric = &colType{name: "numeric",
		sql:   func(scale int) string { return fmt.Sprintf("numeric(18,%d)", scale) },
		arrow: func(scale int) arrow.DataType { return &arrow.Decimal128Type{Precision: 18, Scale: int32(scale)} },
		encode: func(b []byte, a arrow.Array, r, scale int) []byte {
			return appendNumeric(b, int64(a.(*array.Decimal128).Value(r).LowBits()), scale)
		}}
	tTimestampTZ = &colType{name: "timestamptz", sql: fixed("timestamptz"),
		arrow: func(int) arrow.DataType { return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"} },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			b = binary.BigEndian.AppendUint32(b, 8)
			return binary.BigEndian.AppendUint64(b, uint64(int64(a.(*array.Timestamp).Value(r))-pgEpochMicros))
		}}
	tTimestamp = &colType{name: "timestamp", sql: fixed("timestamp"),
		arrow:  func(int) arrow.DataType { return &arrow.TimestampType{Unit: arrow.Microsecond} },
		encode: tTimestampTZ.encode}
	tDate = &colType{name: "date", sql: fixed("date"),
		arrow: func(int) arrow.DataType { return arrow.FixedWidthTypes.Date32 },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			b = binary.BigEndian.AppendUint32(b, 4)
			return binary.BigEndian.AppendUint32(b, uint32(int32(a.(*array.Date32).Value(r))-pgEpochDays))
		}}
	tBool = &colType{name: "bool", sql: fixed("boolean"),
		arrow: func(int) arrow.DataType { return arrow.FixedWidthTypes.Boolean },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			b = binary.BigEndian.AppendUint32(b, 1)
			if a.(*array.Boolean).Value(r) {
				return append(b, 1)
			}
			return append(b, 0)
		}}
	tUUID = &colType{name: "uuid", sql: fixed("uuid"),
		arrow: func(int) arrow.DataType { return &arrow.FixedSizeBinaryType{ByteWidth: 16} },
		encode: func(b []byte, a arrow.Array, r, _ int) []byte {
			v := a.(*array.FixedSizeBinary).Value(r)
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			return append(b, v...)
		}}
)

package loaders

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/percolate/percolate/internal/config"
)

// contract is a source's column contract compiled for one file at a time:
// it turns a record's fields into typed values, drops personal data, makes
// the row key and explodes nested lists.
type contract struct {
	src    *config.Source
	parent *table
	child  *table // nil when no column is a list of items

	keyFrom []bool // by column: takes part in the key
	itemsAt int    // index of the items column, or -1
	dateAt  int    // index of the timestamp column that derives a date, or -1
	items   *itemParser
	mac     hash.Hash
	keyBuf  []byte
	vals    []value
}

// value is one parsed field.
type value struct {
	str   string
	num   int64
	at    int64 // µs since the Unix epoch, the instant
	local int64 // µs since the Unix epoch of the wall-clock time
	items []item
}

type item struct {
	size    string
	product string
	price   int64
}

// kind is how a staging column is typed in Arrow and in PostgreSQL.
type kind int

const (
	kText kind = iota
	kInt64
	kInt32
	kNumeric
	kTimestampTZ
	kTimestamp
	kDate
	kUUID
)

func (k kind) arrow(scale int) arrow.DataType {
	switch k {
	case kInt64:
		return arrow.PrimitiveTypes.Int64
	case kInt32:
		return arrow.PrimitiveTypes.Int32
	case kNumeric:
		return &arrow.Decimal128Type{Precision: 18, Scale: int32(scale)}
	case kTimestampTZ:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case kTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	case kDate:
		return arrow.FixedWidthTypes.Date32
	case kUUID:
		return &arrow.FixedSizeBinaryType{ByteWidth: 16}
	}
	return arrow.BinaryTypes.String
}

// column is one column of a staging table.
type column struct {
	name  string
	kind  kind
	scale int
}

// table is a staging table the loader writes, with its Arrow schema.
type table struct {
	name   string
	cols   []column
	schema *arrow.Schema
}

func newTable(name string, cols []column) *table {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.kind.arrow(c.scale), Nullable: true}
	}
	return &table{name: name, cols: cols, schema: arrow.NewSchema(fields, nil)}
}

// Lineage columns every staging row carries; item rows leave out the file,
// which their load_id names, since they outnumber the orders.
var (
	lineage     = []column{{"load_id", kInt64, 0}, {"source_file", kText, 0}, {"source_line", kInt32, 0}}
	itemLineage = []column{{"load_id", kInt64, 0}, {"source_line", kInt32, 0}}
)

func newContract(src *config.Source, key []byte) (*contract, error) {
	c := &contract{src: src, itemsAt: -1, dateAt: -1, mac: hmac.New(sha256.New, key)}
	for i, col := range src.Columns {
		if col.Type == config.Timestamp && col.Date != "" && col.Personal == "" && c.dateAt < 0 {
			c.dateAt = i
		}
	}
	cols := slices.Clone(lineage)
	cols = append(cols, column{src.Key.Column, kUUID, 0})
	c.keyFrom = make([]bool, len(src.Columns))
	for i, col := range src.Columns {
		c.keyFrom[i] = slices.Contains(src.Key.From, col.Name)
		switch {
		case col.Personal == config.Drop:
		case col.Personal == config.Hash:
			cols = append(cols, column{col.Name, kText, 0})
		case col.Type == config.Timestamp:
			cols = append(cols, column{col.Name, kTimestampTZ, 0})
			if col.Local != "" {
				cols = append(cols, column{col.Local, kTimestamp, 0})
			}
			if col.Date != "" {
				cols = append(cols, column{col.Date, kDate, 0})
			}
		case col.Type == config.Numeric:
			cols = append(cols, column{col.Name, kNumeric, col.Scale})
		case col.Type == config.Integer:
			cols = append(cols, column{col.Name, kInt64, 0})
		case col.Type == config.List:
			if c.itemsAt >= 0 {
				return nil, fmt.Errorf("source %s: only one items column is supported", src.Name)
			}
			c.itemsAt = i
			p, err := newItemParser(col.Items)
			if err != nil {
				return nil, err
			}
			c.items = p
			childCols := slices.Clone(itemLineage)
			childCols = append(childCols,
				column{src.Key.Column, kUUID, 0},
				column{"item_no", kInt32, 0},
				column{"size", kText, 0},
				column{"product", kText, 0},
				column{"price", kNumeric, col.Items.Scale})
			if c.dateAt >= 0 {
				childCols = append(childCols, column{src.Columns[c.dateAt].Date, kDate, 0})
			}
			c.child = newTable(col.Items.Table, childCols)
		default:
			cols = append(cols, column{col.Name, kText, 0})
		}
	}
	c.parent = newTable(src.Table, cols)
	c.vals = make([]value, len(src.Columns))
	return c, nil
}

// rowError is why a record breaks the contract: the 1-based field number
// (0 for the whole row) and the reason.
type rowError struct {
	col    int
	column string
	reason string
}

func (e *rowError) Error() string {
	if e.column == "" {
		return e.reason
	}
	return e.column + ": " + e.reason
}

// parse types a record's fields into c.vals and returns the row key: the
// first 128 bits of the HMAC, stored as a uuid. Nothing is written anywhere
// until the whole row is known to be good.
func (c *contract) parse(fields []string) ([16]byte, *rowError) {
	var key [16]byte
	if len(fields) != len(c.src.Columns) {
		return key, &rowError{reason: fmt.Sprintf("%d fields, the contract has %d", len(fields), len(c.src.Columns))}
	}
	c.mac.Reset()
	for i, col := range c.src.Columns {
		v := &c.vals[i]
		f := fields[i]
		*v = value{str: f, items: v.items[:0]}
		bad := func(format string, args ...any) *rowError {
			return &rowError{col: i + 1, column: col.Name, reason: fmt.Sprintf(format, args...)}
		}
		if col.Personal != "" {
			if c.keyFrom[i] {
				c.keyBuf = append(append(c.keyBuf[:0], f...), 0)
				c.mac.Write(c.keyBuf)
			}
			continue
		}
		switch col.Type {
		case config.Text:
			if len(col.Values) > 0 && !slices.Contains(col.Values, f) {
				return key, bad("%q is not one of %s", f, strings.Join(col.Values, ", "))
			}
			if f == "" {
				return key, bad("is empty")
			}
		case config.Integer:
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return key, bad("%q is not a whole number", f)
			}
			v.num = n
		case config.Numeric:
			n, err := parseDecimal(f, col.Scale)
			if err != nil {
				return key, bad("%q %v", f, err)
			}
			v.num = n
		case config.Timestamp:
			if err := c.parseTime(col, f, v); err != nil {
				return key, bad("%q does not match %s", f, strings.Join(col.Layouts, " or "))
			}
		case config.List:
			items, err := c.items.parse(f, v.items)
			if err != nil {
				return key, bad("%v", err)
			}
			v.items = items
		}
		if c.keyFrom[i] {
			c.keyBuf = appendCanonical(c.keyBuf[:0], col, v)
			c.mac.Write(c.keyBuf)
		}
	}
	if rerr := c.checkSums(); rerr != nil {
		return key, rerr
	}
	var sum [sha256.Size]byte
	copy(key[:], c.mac.Sum(sum[:0]))
	return key, nil
}

// checkSums holds numeric columns declared `sum_of` an items column to
// the sum of its prices.
func (c *contract) checkSums() *rowError {
	for i, col := range c.src.Columns {
		if col.SumOf == "" {
			continue
		}
		for j, other := range c.src.Columns {
			if other.Name != col.SumOf {
				continue
			}
			var sum int64
			for _, it := range c.vals[j].items {
				sum += it.price
			}
			if sum != c.vals[i].num {
				return &rowError{col: i + 1, column: col.Name, reason: fmt.Sprintf("%s is not the sum of the %s prices (%s)",
					appendDecimal(nil, c.vals[i].num, col.Scale), other.Name, appendDecimal(nil, sum, col.Scale))}
			}
		}
	}
	return nil
}

func (c *contract) parseTime(col *config.Column, f string, v *value) error {
	var wall time.Time
	var err error
	for _, l := range col.GoLayouts {
		if wall, err = time.Parse(l, f); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	at := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), c.src.Location)
	v.at = at.UnixMicro()
	v.local = wall.UnixMicro()
	return nil
}

// appendCanonical writes the value's canonical form: the same order gives
// the same bytes whatever its file's padding, line endings or layout of
// numbers (5.2 and 5.20).
func appendCanonical(b []byte, col *config.Column, v *value) []byte {
	switch col.Type {
	case config.Numeric:
		b = appendDecimal(b, v.num, col.Scale)
	case config.Integer:
		b = strconv.AppendInt(b, v.num, 10)
	case config.Timestamp:
		b = strconv.AppendInt(b, v.at, 10)
	case config.List:
		for _, it := range v.items {
			b = append(b, it.size...)
			b = append(b, 0x1f)
			b = append(b, it.product...)
			b = append(b, 0x1f)
			b = strconv.AppendInt(b, it.price, 10)
			b = append(b, 0x1e)
		}
	default:
		b = append(b, v.str...)
	}
	return append(b, 0)
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000}

// parseDecimal reads an exact decimal ("5.2", "-0.75", "4") as an integer
// scaled by 10^scale; more decimals than the scale is an error, not a
// rounding.
func parseDecimal(s string, scale int) (int64, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	ip, fp, dot := strings.Cut(s, ".")
	if ip == "" && fp == "" || (dot && fp == "" && ip == "") {
		return 0, fmt.Errorf("is not a number")
	}
	if len(fp) > scale {
		return 0, fmt.Errorf("has more than %d decimals", scale)
	}
	if len(ip) > 15 {
		return 0, fmt.Errorf("is too large")
	}
	var n int64
	for _, part := range []string{ip, fp} {
		for i := 0; i < len(part); i++ {
			d := part[i] - '0'
			if d > 9 {
				return 0, fmt.Errorf("is not a number")
			}
			n = n*10 + int64(d)
		}
	}
	n *= pow10[scale-len(fp)]
	if neg {
		n = -n
	}
	return n, nil
}

func appendDecimal(b []byte, n int64, scale int) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/pow10[scale], 10)
	if scale > 0 {
		b = append(b, '.')
		frac := strconv.FormatInt(n%pow10[scale], 10)
		for i := len(frac); i < scale; i++ {
			b = append(b, '0')
		}
		b = append(b, frac...)
	}
	return b
}

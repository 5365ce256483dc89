package loaders

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"gopkg.in/yaml.v3"

	"github.com/percolate/percolate/internal/config"
)

// contract is a source's column contract compiled for one file at a time:
// it turns a record's fields into typed values, drops personal data, makes
// the row key and explodes nested lists.
type contract struct {
	src    *config.Source
	kinds  []*kind // by source column
	parent *table
	child  *table // nil when no column is a list of items
	sums   *table // nil unless the items declare sums
	// sumPlan says how sums is filled.
	sumPlan *itemSumsPlan
	// rowSums is the table of a file's rows summed, nil unless the source
	// declares sums; rowPlan says how it is filled.
	rowSums *table
	rowPlan *rowSumsPlan

	// spans[i] is the range of parent columns source column i fills.
	spans [][2]int
	// carried are the source columns copied onto every item row, and
	// carrySpans the ranges of child columns they fill.
	carried    []int
	carrySpans [][2]int
	keyFrom    []bool // by column: takes part in the key
	sumOf      []sumOf
	repeatAt   int // the parent's column that says a row repeats its file, or -1
	// keyTellsRows: the key is made from every column (see fingerprint).
	keyTellsRows bool
	dateAt       int // index of the timestamp column that derives a date, or -1
	items        *itemParser
	walls        [][]wallLayout // by column: its layouts read without time.Parse, where they can be
	zone         zoneCache
	mac          hash.Hash
	keyBuf       []byte
	vals         []value
	// text tells the columns whose values reach the database as text:
	// they must be UTF-8.
	text []bool
	// digits bounds, by column, a numeric's digits before the point: those
	// of the staging column it is copied into.
	digits []int
	limits config.Limits
	// named holds, by column declaring file_name, what the file being read
	// has in its name, as compared (see words); "" when the column
	// declares none or the name does not say. norm is scratch for the
	// value compared.
	named []string
	norm  []byte
}

// value is one parsed field.
type value struct {
	str   string
	num   int64
	at    int64 // µs since the Unix epoch, the instant
	local int64 // µs since the Unix epoch of the wall-clock time
	items []item
	// null is set for a field of an optional column that means NULL:
	// nothing else of the value is read.
	null bool
}

// day is the wall-clock day of a timestamp, in days since the Unix epoch.
func (v *value) day() int32 { return int32(floorDiv(v.local, 86400e6)) }

// column is one column of a staging table.
type column struct {
	name     string
	typ      *colType
	scale    int
	nullable bool // the loader may write NULL into it
}

// table is a staging table the loader writes, with its Arrow schema.
type table struct {
	name   string
	cols   []column
	schema *arrow.Schema
}

// tables are the staging tables the contract fills: the source's table,
// then its items table, their sums and its rows' sums when it has them.
func (c *contract) tables() []*table {
	out := []*table{c.parent}
	for _, t := range []*table{c.child, c.sums, c.rowSums} {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

func newTable(name string, cols []column) *table {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ.arrow(c.scale), Nullable: true}
	}
	return &table{name: name, cols: cols, schema: arrow.NewSchema(fields, nil)}
}

// lineage are the columns every staging row starts with: its file, by the
// manifest's load_id (percolate.files holds the path), and its line there.
var lineage = []column{{name: "load_id", typ: tInt8}, {name: "source_line", typ: tInt4}}

// newContract compiles src's contract: its staging tables, how each
// column is read and where it goes, keys hashed with key.
func newContract(src *config.Source, key []byte) (*contract, error) {
	c := &contract{src: src, dateAt: -1, repeatAt: -1, mac: hmac.New(sha256.New, key), limits: src.Limits(), keyTellsRows: keyTellsRows(src)}
	for i, col := range src.Columns {
		if col.Type == config.Timestamp && col.Date != "" && col.Personal == "" && c.dateAt < 0 {
			c.dateAt = i
		}
	}
	cols := slices.Clone(lineage)
	cols = append(cols, column{name: src.Key.Column, typ: tUUID})
	if src.Key.Repeated != "" {
		c.repeatAt = len(cols)
		cols = append(cols, column{name: src.Key.Repeated, typ: tBool, nullable: true})
	}
	c.kinds = make([]*kind, len(src.Columns))
	c.spans = make([][2]int, len(src.Columns))
	c.keyFrom = make([]bool, len(src.Columns))
	for i, col := range src.Columns {
		c.kinds[i] = kindOf(col)
		c.keyFrom[i] = slices.Contains(src.Key.From, col.Name)
		start := len(cols)
		cols = append(cols, columnsOf(col)...)
		c.spans[i] = [2]int{start, len(cols)}
		if col.Type != config.List || col.Personal != "" {
			continue
		}
		if c.items != nil {
			return nil, fmt.Errorf("source %s: only one items column is supported", src.Name)
		}
		if err := c.addItems(col); err != nil {
			return nil, err
		}
	}
	c.parent = newTable(src.Table, cols)
	if src.Sums != nil {
		var sumCols []column
		sumCols, c.rowPlan = rowSumColumns(src, c.dateAt)
		c.rowSums = newTable(src.Sums.Table, sumCols)
	}
	for i, col := range src.Columns {
		if col.SumOf != "" {
			j := slices.IndexFunc(src.Columns, func(o *config.Column) bool { return o.Name == col.SumOf })
			c.sumOf = append(c.sumOf, sumOf{total: i, items: j, field: src.Columns[j].Items.Field(col.SumOfField)})
		}
	}
	c.prepareValues()
	return c, nil
}

// addItems compiles the items column col: its parser, its items table
// with the columns carried from the row, and its sums.
func (c *contract) addItems(col *config.Column) error {
	src := c.src
	p, err := newItemParser(col.Items)
	if err != nil {
		return err
	}
	c.items = p
	childCols := slices.Clone(lineage)
	childCols = append(childCols, column{name: src.Key.Column, typ: tUUID})
	childCols = append(childCols, itemColumns(src, col.Items, c.dateAt)...)
	for _, name := range col.Items.Carry {
		j := slices.IndexFunc(src.Columns, func(o *config.Column) bool { return o.Name == name })
		start := len(childCols)
		childCols = append(childCols, columnsOf(src.Columns[j])...)
		c.carried = append(c.carried, j)
		c.carrySpans = append(c.carrySpans, [2]int{start, len(childCols)})
	}
	if col.Items.Table != "" {
		c.child = newTable(col.Items.Table, childCols)
	}
	if sm := col.Items.Sums; sm != nil {
		var sumCols []column
		sumCols, c.sumPlan = itemSumColumns(src, col.Items, c.dateAt)
		c.sums = newTable(sm.Table, sumCols)
	}
	return nil
}

// prepareValues makes what reading a row's values needs per column: its
// value slot, whether it is text, its digits and its compiled date
// layouts.
func (c *contract) prepareValues() {
	src := c.src
	c.vals = make([]value, len(src.Columns))
	c.named = make([]string, len(src.Columns))
	c.text = make([]bool, len(src.Columns))
	c.digits = make([]int, len(src.Columns))
	for i, col := range src.Columns {
		c.text[i] = col.Personal == "" && (col.Type == config.Text || col.Type == config.List)
		c.digits[i] = maxDigits - col.Scale
	}
	c.zone = zoneCache{loc: src.Location}
	c.walls = make([][]wallLayout, len(src.Columns))
	for i, col := range src.Columns {
		for _, l := range col.Layouts {
			w, ok := compileWall(l)
			if !ok {
				c.walls[i] = nil // one layout time.Parse must read: it reads them all, in order
				break
			}
			c.walls[i] = append(c.walls[i], w)
		}
	}
}

// limit bounds the numbers of the contract by the precision of the staging
// columns they are copied into: precision maps "schema.table.column" to a
// numeric column's declared precision. A column it does not name keeps
// the loader's own bound (18 digits).
func (c *contract) limit(precision map[string]int) {
	digits := func(table, column string, scale int) int {
		p, ok := precision[table+"."+column]
		if !ok || p <= 0 {
			return maxDigits - scale
		}
		return max(0, min(p, maxDigits)-scale)
	}
	for i, col := range c.src.Columns {
		if col.Type == config.Numeric && col.Personal == "" {
			c.digits[i] = digits(c.src.Table, col.Name, col.Scale)
		}
		if c.items != nil && col.Type == config.List && col.Personal == "" && col.Items.Table != "" {
			for j, fd := range col.Items.Fields {
				if fd.Type == config.Numeric {
					c.items.digits[j] = digits(col.Items.Table, fd.Name, fd.Scale)
				}
			}
		}
	}
}

// Fingerprint identifies what a source's contract makes of a file: every
// setting but its description, where its files are and how its tables are
// distributed. A file's rejects
// and refusals hold for the contract they were made under.
func Fingerprint(src *config.Source) string {
	c := *src
	c.Description, c.Path, c.FileDate, c.DistributedBy, c.Immutable = "", "", nil, "", false
	c.Expect, c.Freshness, c.Volume = nil, nil, nil
	b, err := yaml.Marshal(&c)
	if err != nil {
		panic(err) // a decoded source always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
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
		*v = value{str: fields[i], items: v.items[:0]}
		k := c.kinds[i]
		if len(fields[i]) > c.limits.Field {
			return key, &rowError{col: i + 1, column: col.Name, reason: fmt.Sprintf("is longer than max_field_bytes (%d bytes)", c.limits.Field)}
		}
		if c.text[i] && !utf8.ValidString(fields[i]) {
			return key, &rowError{col: i + 1, column: col.Name, reason: notUTF8(fields[i])}
		}
		if col.IsNull(fields[i]) { // false for a required column
			v.null = true
		} else if err := k.parse(c, i, col, fields[i], v); err != nil {
			return key, &rowError{col: i + 1, column: col.Name, reason: err.Error()}
		}
		if c.keyFrom[i] {
			c.keyBuf = append(c.appendKey(c.keyBuf[:0], i, v), 0)
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

// checkSums holds the columns declared `sum_of` an items column to the
// sum of the item field they total.
func (c *contract) checkSums() *rowError {
	for _, so := range c.sumOf {
		col, items := c.src.Columns[so.total], c.vals[so.items].items
		var sum int64
		for n := range items {
			sum += items[n].num[so.field]
			if sum > maxExact || sum < -maxExact {
				return &rowError{col: so.items + 1, column: col.SumOf, reason: fmt.Sprintf("the sum of the %s is too large", plural(col.SumOfField))}
			}
		}
		if sum != c.vals[so.total].num {
			return &rowError{col: so.total + 1, column: col.Name, reason: fmt.Sprintf("is not the sum of the %s %s", col.SumOf, plural(col.SumOfField))}
		}
	}
	return nil
}

// sumOf is a total declared sum_of an items column: the column of the
// total, that of the items and the item field totalled.
type sumOf struct{ total, items, field int }

// plural is a field's name as said of many: price, prices.
func plural(name string) string {
	if strings.HasSuffix(name, "s") {
		return name
	}
	return name + "s"
}

func (c *contract) parseTime(i int, col *config.Column, f string, v *value) error {
	for _, w := range c.walls[i] {
		if wall, ok := w.parse(f); ok {
			v.local, v.at = wall, c.zone.instant(wall)
			return nil
		}
	}
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
	v.local = wall.UnixMicro()
	v.at = c.zone.instant(v.local)
	return nil
}

// notUTF8 says where a field stops being UTF-8.
func notUTF8(f string) string {
	at := 0
	for at < len(f) {
		r, size := utf8.DecodeRuneInString(f[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	return fmt.Sprintf("is not UTF-8: byte 0x%02x at byte %d of the field (if the source's files are not UTF-8, declare their encoding, e.g. encoding: windows-1252)", f[min(at, len(f)-1)], at)
}

// appendKeys appends the canonical values of the row's columns cols to k,
// each closed by a separator: the part of a sum's key they make.
func (c *contract) appendKeys(k []byte, cols []int) []byte {
	for _, j := range cols {
		k = append(c.appendKey(k, j, &c.vals[j]), 0x1e)
	}
	return k
}

// nullKey is a NULL's canonical form: a byte no value's form holds (a
// text's is UTF-8, a number's and an instant's ASCII digits).
const nullKey = 0xff

// appendKey appends the canonical form of v, a value of column j.
func (c *contract) appendKey(b []byte, j int, v *value) []byte {
	if v.null {
		return append(b, nullKey)
	}
	return c.kinds[j].key(c, b, c.src.Columns[j], v)
}

// put appends v, a value of column j, to the builders of its staging
// columns: NULL in each of them when it is NULL.
func (c *contract) put(f *fileLoad, bs []array.Builder, j int, v *value) {
	if v.null {
		for _, b := range bs {
			b.AppendNull()
		}
		return
	}
	c.kinds[j].put(f, bs, c.src.Columns[j], v)
}

// columnsOf are the staging columns a source column fills: nullable when
// it is optional.
func columnsOf(col *config.Column) []column {
	cols := kindOf(col).columns(col)
	if col.Optional {
		for i := range cols {
			cols[i].nullable = true
		}
	}
	return cols
}

// keep copies the row's values of the columns cols, to outlive the row.
func (c *contract) keep(cols []int) []value {
	out := make([]value, 0, len(cols))
	for _, j := range cols {
		v := c.vals[j]
		v.str, v.items = strings.Clone(v.str), nil
		out = append(out, v)
	}
	return out
}

// nameFile tells the contract the name of the file it reads next: what the
// columns declaring file_name must agree with.
func (c *contract) nameFile(path string) {
	for i, col := range c.src.Columns {
		c.named[i] = nameSays(col, path)
	}
}

// nameSays is what the name of the file at path says column col holds,
// by its file_name rule, as words (see appendWords); "" when the column
// has no such rule or the name does not match it.
func nameSays(col *config.Column, path string) string {
	if col.FileNameRe == nil {
		return ""
	}
	m := col.FileNameRe.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return ""
	}
	return string(appendWords(nil, m[1]))
}

// agrees reports whether f is what the file's name says column i holds,
// compared as words: "Isle of Wight" agrees with isle_of_wight.
func (c *contract) agrees(i int, f string) bool {
	if c.named[i] == "" {
		return true
	}
	c.norm = appendWords(c.norm[:0], f)
	return string(c.norm) == c.named[i]
}

// appendWords appends s lower-cased, each run of what is not a letter or
// a digit made one space, none at either end.
func appendWords(b []byte, s string) []byte {
	gap := false
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			gap = true
			continue
		}
		if gap && len(b) > 0 {
			b = append(b, ' ')
		}
		gap = false
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return b
}

package loaders

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/config"
)

func readAll(t *testing.T, in string) (recs [][]string, lines []int, err error) {
	t.Helper()
	r := newCSVReader(strings.NewReader(in), config.DefaultMaxLineBytes)
	for {
		f, line, err := r.Read()
		if err == io.EOF {
			return recs, lines, nil
		}
		if err != nil {
			return recs, lines, err
		}
		rec := make([]string, len(f))
		for i := range f {
			rec[i] = strings.Clone(f[i]) // the reader reuses its buffer
		}
		recs = append(recs, rec)
		lines = append(lines, line)
	}
}

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  [][]string
		lines []int
	}{
		{"plain LF", "a,b\nc,d\n", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"CRLF", "a,b\r\nc,d\r\n", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"no final newline", "a,b\nc,d", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"byte-order mark", "\xef\xbb\xbfa,b\n", [][]string{{"a", "b"}}, []int{1}},
		{"quoted with separator", `x,"a, b",y` + "\n", [][]string{{"x", "a, b", "y"}}, []int{1}},
		{"padded fields", "  a ,\t b  , c\n", [][]string{{"a", "b", "c"}}, []int{1}},
		{"spaces after closing quote", `"Large Latte - 2.45"   ,5.2   ,CARD ` + "\n", [][]string{{"Large Latte - 2.45", "5.2", "CARD"}}, []int{1}},
		{"escaped quote", `"say ""hi""",b` + "\n", [][]string{{`say "hi"`, "b"}}, []int{1}},
		{"empty fields", "a,,\n", [][]string{{"a", "", ""}}, []int{1}},
		{"whitespace-only last line", "a,b\n \n", [][]string{{"a", "b"}}, []int{1}},
		{"blank lines between", "a\n\n\r\nb\n", [][]string{{"a"}, {"b"}}, []int{1, 4}},
		{"quoted newline", "\"a\nb\",c\nd,e\n", [][]string{{"a\nb", "c"}, {"d", "e"}}, []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lines, err := readAll(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("got %q at lines %v, want %q at lines %v", got, lines, tt.want, tt.lines)
			}
		})
	}
}

func TestCSVReaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
		col      int
		notText  bool
	}{
		{"text after closing quote", `a,"b"c,d` + "\n", 2, false},
		{"unterminated quote", "a,\"b\n", 2, false},
		{"binary", "PK\x03\x04\x00\x00", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, tt.in)
			var se *syntaxError
			switch {
			case tt.notText && !errors.Is(err, ErrNotText):
				t.Errorf("got %v, want ErrNotText", err)
			case !tt.notText && !errors.As(err, &se):
				t.Errorf("got %v, want a syntax error", err)
			case !tt.notText && se.col != tt.col:
				t.Errorf("column: got %d, want %d", se.col, tt.col)
			}
		})
	}
}

// cafeFields are the cafe's item fields, as pipelines.yaml declares them.
const cafeFields = `[{name: size, values: [Regular, Large], optional: true}, {name: product, pattern: '^[^-\s]'}, {name: price, type: numeric, scale: 2}]`

// itemsOf returns the items declaration of a source whose basket column
// declares items, checked as validate checks it.
func itemsOf(t testing.TB, items string) *config.Items {
	t.Helper()
	f, err := config.Parse("pipelines.yaml", []byte(`version: 1
pipelines:
  p:
    models: models
    sources:
      s:
        path: in/*.csv
        table: staging.s
        key: {column: id, from: [basket]}
        columns:
          - name: basket
            type: items
            items: `+items+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return f.Pipelines["p"].Sources["s"].Columns[0].Items
}

// cafeItem is an item of the cafe's fields.
func cafeItem(size, product string, price int64) item {
	var it item
	it.str[0], it.str[1], it.num[2] = size, product, price
	return it
}

func TestItems(t *testing.T) {
	layoutA := itemsOf(t, `{column: items, separator: ",", format: "{size} {product} - {price}", fields: `+cafeFields+`}`)
	layoutB := itemsOf(t, `{column: items, separator: ",", fields: `+cafeFields+`}`)
	tests := []struct {
		name  string
		items *config.Items
		in    string
		want  []item
		err   string
	}{
		{"A: flavour inside the name", layoutA, "Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte - 2.45",
			[]item{cafeItem("Regular", "Flavoured iced latte - Hazelnut", 275), cafeItem("Large", "Latte", 245)}, ""},
		{"A: no size", layoutA, "Glass of milk - 0.7", []item{cafeItem("", "Glass of milk", 70)}, ""},
		{"A: padded", layoutA, "  Large Latte - 2.45 ,Regular Latte - 2.1",
			[]item{cafeItem("Large", "Latte", 245), cafeItem("Regular", "Latte", 210)}, ""},
		{"A: bad second item", layoutA, "Large Latte - 2.45, Regular Latte", nil, `item 2: expected " - "`},
		{"A: no price", layoutA, "Large Latte", nil, `expected " - " after {product}`},
		{"A: bad price", layoutA, "Large Latte - two", nil, `price is not a number`},
		{"A: too many decimals", layoutA, "Large Latte - 2.455", nil, "has more than 2 decimals"},
		{"A: empty basket", layoutA, " ", nil, "no items"},
		{"B: empty sizes", layoutB, ",Frappes - Coffee,2.75,Large,Latte,2.45",
			[]item{cafeItem("", "Frappes - Coffee", 275), cafeItem("Large", "Latte", 245)}, ""},
		{"B: case kept", layoutB, ",Hot Chocolate,1.4,Large,Hot chocolate,2.9",
			[]item{cafeItem("", "Hot Chocolate", 140), cafeItem("Large", "Hot chocolate", 290)}, ""},
		{"B: broken tuple", layoutB, "Large,Latte,2.45,Large", nil, "4 parts is not a whole number of 3-field items"},
		{"B: unknown size", layoutB, "Huge,Latte,2.45", nil, `size is not one of Regular, Large`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newItemParser(tt.items)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.parse(tt.in, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
		back string
	}{
		{"5.2", 520, true, "5.20"}, {"5.20", 520, true, "5.20"}, {"4.0", 400, true, "4.00"}, {"4", 400, true, "4.00"},
		{"13.05", 1305, true, "13.05"}, {"-0.75", -75, true, "-0.75"}, {".5", 50, true, "0.50"}, {"0.0", 0, true, "0.00"},
		{"", 0, false, ""}, {"abc", 0, false, ""}, {"1.234", 0, false, ""}, {"1,5", 0, false, ""}, {"1e3", 0, false, ""}, {".", 0, false, ""},
	}
	for _, tt := range tests {
		got, err := parseDecimal(tt.in, 2, 16)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDecimal(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
			continue
		}
		if tt.ok {
			if back := string(appendDecimal(nil, got, 2)); back != tt.back {
				t.Errorf("appendDecimal(%d) = %q, want %q", got, back, tt.back)
			}
		}
	}
}

// TestDecimalRange holds numbers to the digits of their column: never an
// overflow, never a value the server would refuse.
func TestDecimalRange(t *testing.T) {
	tests := []struct {
		in            string
		scale, digits int
		want          int64
		err           string
	}{
		{"99999999.99", 2, 8, 9999999999, ""},
		{"-00012345678.5", 2, 8, -1234567850, ""},
		{"100000000", 2, 8, 0, "out of range: 9 digits before the point, where its column takes at most 8"},
		{"999999999999999.999999", 6, 12, 0, "out of range: 15 digits"},
		{"999999999999.999999", 6, 12, 999999999999999999, ""},
		{"12345678901234567", 0, 18, 12345678901234567, ""},
		{"1234567890123456789", 0, 18, 0, "out of range"},
		{"1x", 2, 8, 0, "is not a number"},
	}
	for _, tt := range tests {
		got, err := parseDecimal(tt.in, tt.scale, tt.digits)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("parseDecimal(%q, %d, %d) = %d, %v; want %d", tt.in, tt.scale, tt.digits, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("parseDecimal(%q, %d, %d) = %d, %v; want an error containing %q", tt.in, tt.scale, tt.digits, got, err, tt.err)
		}
	}
}

// A field's pattern holds for every item, however often a product that
// matched comes again: what matched is remembered, what did not is not.
func TestItemPattern(t *testing.T) {
	p, err := newItemParser(itemsOf(t, `{column: items, separator: ",", format: "{size} {product} - {price}", fields: `+cafeFields+`}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ in, err string }{
		{"Large Latte - 2.45, Regular Latte - 2.15", ""},
		{"Large Latte - 2.45, Large -Latte - 2.45", `item 2: product does not match the pattern ^[^-\s]`},
		{"Regular Latte - 2.15", ""},
		{"Large -Latte - 2.45", `does not match`},
	} {
		_, err := p.parse(c.in, nil)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%d %q: %v", i, c.in, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%d %q: got error %v, want one containing %q", i, c.in, err, c.err)
		}
	}
}

// TestItemsInTheirRow: items kept in a column of their row are written an
// item a line, size, product and price parted by tabs; a size or product
// that holds a tab or a line break would read as other items, and is
// refused, as is a price past numeric(10,2).
func TestItemsInTheirRow(t *testing.T) {
	it := itemsOf(t, `{column: items, separator: ",", format: "{size} {product} - {price}", fields: `+cafeFields+`}`)
	p, err := newItemParser(it)
	if err != nil {
		t.Fatal(err)
	}
	items, err := p.parse("Large Flavoured iced latte - Hazelnut - 2.75, Glass of milk - 0.7", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(p.appendText(nil, items)), "Large\tFlavoured iced latte - Hazelnut\t2.75\n\tGlass of milk\t0.70"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, c := range []struct{ in, err string }{
		{"Large La\tte - 2.45", `product has a tab or a line break`},
		{"Large Latte\nMocha - 2.45", `product has a tab or a line break`},
		{"Large Latte - 123456789.00", `9 digits before the point, where its column takes at most 8`},
	} {
		if _, err := p.parse(c.in, nil); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: got error %v, want one containing %q", c.in, err, c.err)
		}
	}
	// In a table of their own, items may hold both.
	it.Column, it.Table = "", "staging.items"
	if p, err = newItemParser(it); err != nil {
		t.Fatal(err)
	}
	if _, err := p.parse("Large La\tte - 2.45", nil); err != nil {
		t.Errorf("in an items table: %v", err)
	}
}

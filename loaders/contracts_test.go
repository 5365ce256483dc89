package loaders

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
)

// invoices is a contract of another shape than the cafe's: invoice lines,
// a line a row, with optional fields, ids written as decimals and
// cancellations as negative quantities.
const invoices = `version: 1
pipelines:
  shop:
    models: models
    sources:
      lines:
        path: in/*.csv
        header: true
        max_rejects: 10
        table: staging.invoice_lines
        key: {column: line_id, from: [invoice, stock_code, description, quantity, invoiced_at, price, customer]}
        sums: {table: staging.invoice_sums, by: [country, customer], count: lines, sum: [quantity, discount]}
        columns:
          - name: invoice
          - name: stock_code
          - name: description
            optional: true
          - name: quantity
            type: integer
          - name: invoiced_at
            type: timestamp
            layouts: ["%Y-%m-%d %H:%M:%S"]
            date: invoice_date
          - name: price
            type: numeric
            scale: 2
          - name: customer
            type: integer
            null_values: [NA, "n/a"]
          - name: country
          - name: discount
            type: numeric
            scale: 2
            optional: true
          - name: shipped_at
            type: timestamp
            layouts: ["%Y-%m-%d %H:%M:%S"]
            local: shipped_local
            optional: true
`

func parseSource(t *testing.T, yaml, pipeline, source string) *config.Source {
	t.Helper()
	f, err := config.Parse("pipelines.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return f.Pipelines[pipeline].Sources[source]
}

// createTables makes the source's staging tables as Staging says the
// loader fills them: a column the loader may leave NULL is nullable, every
// other one NOT NULL, so that a NULL where the contract says there is none
// fails the load.
func createTables(t *testing.T, pool *pgxpool.Pool, src *config.Source) {
	t.Helper()
	tables, err := Staging(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		var cols []string
		for _, c := range tb.Columns {
			null := " NOT NULL"
			if c.Nullable {
				null = ""
			}
			cols = append(cols, pgx.Identifier{c.Name}.Sanitize()+" "+c.SQL+null)
		}
		sql := fmt.Sprintf("CREATE TABLE %s (%s)", pgx.Identifier(strings.Split(tb.Name, ".")).Sanitize(), strings.Join(cols, ", "))
		if _, err := pool.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// rowsOf returns the rows of a query as text, NULL as ∅, a row's fields
// parted by |.
func rowsOf(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fs := make([]string, len(vals))
		for i, v := range vals {
			fs[i] = "∅"
			if v != nil {
				fs[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(fs, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestContractsForAnyData loads invoice lines as real files write them:
// empty optional fields and NA, ids as decimals, negative quantities and
// amounts, quoted fields holding the separator, a header line in the
// contract's order; and rejects what still breaks the contract, naming
// line and column.
func TestContractsForAnyData(t *testing.T) {
	pool := warehouse(t)
	src := parseSource(t, invoices, "shop", "lines")
	createTables(t, pool, src)
	file := "invoice,stock_code,description,quantity,invoiced_at,price,customer,country,discount,shipped_at\n" +
		`536365,85123A,"WHITE HANGING HEART T-LIGHT HOLDER, RED",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom,,2010-12-02 10:00:00` + "\n" +
		`536366,22633,,6,2010-12-01 08:28:00,1.85,NA,United Kingdom,0.50,` + "\n" +
		`C536379,D,Discount,-1,2010-12-01 09:41:00,-27.50,14527,France,-2.50,` + "\n" +
		`536367,84879,n/a,-3,2010-12-01 08:34:00,1.69,n/a,France,,` + "\n" +
		`536368,22960,JAM MAKING SET,2,2010-12-01 08:34:00,4.25,17850.5,France,,` + "\n" + // line 6: an id with decimals
		`536369,22961,JAM JAR,,2010-12-01 08:35:00,1.00,12583,France,,` + "\n" + // line 7: a required field empty
		`536370,22962,"JAM ""SPECIAL""",1,2010-12-01 08:36:00,1.00,12583.000,France,,` + "\n"
	r := load(t, pool, src, write(t, t.TempDir(), "2010-12-01.csv", file))[0]
	if r.Status != Loaded || r.Loaded != 5 || r.Rejected != 2 {
		t.Fatalf("got %s, %d loaded, %d rejected (%v); want loaded, 5, 2", r.Status, r.Loaded, r.Rejected, r.Err)
	}
	sameRows(t, "staging rows", rowsOf(t, pool, `SELECT source_line, invoice, stock_code, description, quantity, price::text, customer, country,
		discount::text, to_char(shipped_local, 'YYYY-MM-DD HH24:MI') FROM staging.invoice_lines ORDER BY source_line`), []string{
		"2|536365|85123A|WHITE HANGING HEART T-LIGHT HOLDER, RED|6|2.55|17850|United Kingdom|∅|2010-12-02 10:00",
		"3|536366|22633|∅|6|1.85|∅|United Kingdom|0.50|∅",
		"4|C536379|D|Discount|-1|-27.50|14527|France|-2.50|∅",
		"5|536367|84879|n/a|-3|1.69|∅|France|∅|∅", // n/a is NULL in customer only
		`8|536370|22962|JAM "SPECIAL"|1|1.00|12583|France|∅|∅`,
	})
	sameRows(t, "rejects", rowsOf(t, pool, `SELECT line, column_name, reason FROM percolate.rejects ORDER BY line`), []string{
		"6|7 (customer)|is not a whole number: it has decimals other than 0",
		"7|4 (quantity)|is not a whole number",
	})
	// A NULL adds nothing to a sum, and is a group of its own.
	sameRows(t, "sums", rowsOf(t, pool, `SELECT country, customer, lines, quantity, discount::text FROM staging.invoice_sums ORDER BY 1, 2 NULLS LAST`), []string{
		"France|12583|1|1|0.00",
		"France|14527|1|-1|-2.50",
		"France|∅|1|-3|0.00",
		"United Kingdom|17850|1|6|0.00",
		"United Kingdom|∅|1|6|0.50",
	})
}

// TestNullKeys: a NULL takes part in a row's key as itself, not as the
// empty text or 0, and every spelling of it makes the same key.
func TestNullKeys(t *testing.T) {
	src := parseSource(t, invoices, "shop", "lines")
	c, err := newContract(src, testKey)
	if err != nil {
		t.Fatal(err)
	}
	row := func(customer string) [16]byte {
		t.Helper()
		k, rerr := c.parse([]string{"1", "A", "x", "1", "2010-12-01 08:26:00", "1.00", customer, "UK", "", ""})
		if rerr != nil {
			t.Fatalf("customer %q: %v", customer, rerr)
		}
		return k
	}
	if row("") != row("NA") || row("NA") != row("n/a") {
		t.Error("NULL spelt three ways: got different keys, want one")
	}
	if row("") == row("0") {
		t.Error("NULL and 0: got the same key, want two")
	}
	if row("17850") != row("17850.00") {
		t.Error("17850 and 17850.00: got different keys, want one")
	}
}

// notes declares items of other fields than the cafe's: delivery notes
// whose lines are "6 x FLOUR @ 1.250" (a table of their own), and
// returns whose lines are tuples of a code, a quantity and an optional
// grade (kept in their row).
const notes = `version: 1
pipelines:
  depot:
    models: models
    sources:
      notes:
        path: in/*.csv
        max_rejects: 10
        table: staging.notes
        key: {column: note_id, from: [note, lines]}
        columns:
          - name: note
          - name: depot
          - {name: delivered, type: timestamp, layouts: ["%Y-%m-%d"], date: day}
          - name: lines
            type: items
            items:
              table: staging.note_lines
              separator: ";"
              format: "{qty} x {sku} @ {unit}"
              fields:
                - {name: qty, type: integer}
                - {name: sku, pattern: '^[A-Z]'}
                - {name: unit, type: numeric, scale: 3}
              carry: [depot]
              count: line_count
              sums: {table: staging.note_line_sums, by: [depot, sku], count: lines, sum: units, of: qty}
          - {name: units, type: integer, sum_of: lines.qty}
      returns:
        path: in/*.csv
        table: staging.returns
        key: {column: return_id, from: [ref, lines]}
        columns:
          - name: ref
          - name: lines
            type: items
            items:
              column: packed
              separator: "|"
              fields: [code, {name: qty, type: integer}, {name: grade, values: [A, B], optional: true}]
              sums: {table: staging.return_sums, count: n, sum: qty}
`

// TestItemsDeclared loads items whose fields the contract declares, into
// a table of their own and into a column of their row, with sums by
// columns of the row and fields of the item.
func TestItemsDeclared(t *testing.T) {
	pool := warehouse(t)
	ns := parseSource(t, notes, "depot", "notes")
	rs := parseSource(t, notes, "depot", "returns")
	createTables(t, pool, ns)
	createTables(t, pool, rs)
	dir := t.TempDir()
	r := load(t, pool, ns, write(t, dir, "notes.csv", "N1,Leeds,2024-05-01,6 x FLOUR @ 1.250; 2 x SUGAR @ 0.8,8\n"+
		"N2,Leeds,2024-05-01,3 x FLOUR @ 1.250,3\n"+
		"N3,York,2024-05-01,-1 x FLOUR @ 1.25,-1\n"+ // a return on a note
		"N4,York,2024-05-01,2 x flour @ 1.25,2\n"+ // line 4: a code out of pattern
		"N5,York,2024-05-01,2 x FLOUR @ 1.25,3\n"))[0] // line 5: a total that is not the lines'
	if r.Status != Loaded || r.Loaded != 3 || r.Rejected != 2 || r.Items != 4 {
		t.Fatalf("notes: got %s, %d loaded, %d items, %d rejected (%v); want loaded, 3, 4, 2", r.Status, r.Loaded, r.Items, r.Rejected, r.Err)
	}
	sameRows(t, "note lines", rowsOf(t, pool, `SELECT source_line, item_no, qty, sku, unit::text, day::text, depot FROM staging.note_lines ORDER BY 1, 2`), []string{
		"1|1|6|FLOUR|1.250|2024-05-01|Leeds",
		"1|2|2|SUGAR|0.800|2024-05-01|Leeds",
		"2|1|3|FLOUR|1.250|2024-05-01|Leeds",
		"3|1|-1|FLOUR|1.250|2024-05-01|York",
	})
	sameRows(t, "note line sums", rowsOf(t, pool, `SELECT day::text, depot, sku, lines, units FROM staging.note_line_sums ORDER BY 2, 3`), []string{
		"2024-05-01|Leeds|FLOUR|2|9",
		"2024-05-01|Leeds|SUGAR|1|2",
		"2024-05-01|York|FLOUR|1|-1",
	})
	sameRows(t, "rejects", rowsOf(t, pool, `SELECT line, column_name, reason FROM percolate.rejects ORDER BY line`), []string{
		"4|4 (lines)|item 1: sku does not match the pattern ^[A-Z]",
		"5|5 (units)|is not the sum of the lines qtys",
	})

	r = load(t, pool, rs, write(t, dir, "returns.csv", `R1,"AX1|2|A|BX2|1|"`+"\nR2,CX3|4|C\n"))[0]
	if r.Status != Refused {
		t.Fatalf("returns: got %s, want refused (a grade not declared, and no rejects allowed)", r.Status)
	}
	if re := r.Err.Error(); !strings.Contains(re, "returns.csv:2, column 2 (lines): item 1: grade is not one of A, B") {
		t.Errorf("returns: got %q, want the grade named at line 2, column 2", re)
	}
	r = load(t, pool, rs, write(t, dir, "returns2.csv", `R1,"AX1|2|A|BX2|1|"`+"\nR2,AX1|4|\n"))[0]
	if r.Status != Loaded || r.Items != 3 {
		t.Fatalf("returns: got %+v, want loaded, 3 items", r)
	}
	sameRows(t, "returns", rowsOf(t, pool, `SELECT ref, replace(replace(packed, E'\t', '>'), E'\n', '/') FROM staging.returns ORDER BY 1`), []string{
		"R1|AX1>2>A/BX2>1>",
		"R2|AX1>4>",
	})
	// By default the sums are by the item's text fields: an empty grade is
	// a NULL of its own.
	sameRows(t, "return sums", rowsOf(t, pool, `SELECT code, grade, n, qty FROM staging.return_sums ORDER BY 1, 2`), []string{
		"AX1|A|1|2",
		"AX1|∅|1|4",
		"BX2|∅|1|1",
	})
}

// TestInvoiceHeaderAuto: with header: auto, a first line naming the
// columns in the contract's order is told from data, optional columns
// and all.
func TestInvoiceHeaderAuto(t *testing.T) {
	src := parseSource(t, strings.Replace(invoices, "header: true", "header: auto", 1), "shop", "lines")
	c, err := newContract(src, testKey)
	if err != nil {
		t.Fatal(err)
	}
	f := newFileLoad(c, strings.NewReader(""), 1, "2010-12-01.csv")
	defer f.release()
	for _, tt := range []struct {
		line string
		want bool
	}{
		{"invoice,stock_code,description,quantity,invoiced_at,price,customer,country,discount,shipped_at", true},
		{"536365,85123A,,6,2010-12-01 08:26:00,2.55,NA,United Kingdom,,", false},
		{"536365,85123A,,6,2010-12-01 08:26:00,2.55,17850.5,United Kingdom,,", false}, // a bad row, not a header
	} {
		if got := f.looksLikeHeader(strings.Split(tt.line, ",")); got != tt.want {
			t.Errorf("%s: looks like a header %v, want %v", tt.line, got, tt.want)
		}
	}
}

// TestUnpaddedDates: spreadsheets write days and months without their
// leading zero (the Online Retail export's 12/1/2010 8:26); %d, %m and %H
// read one digit or two, and a field that is no date is still a reject.
func TestUnpaddedDates(t *testing.T) {
	pool := warehouse(t)
	yml := strings.Replace(invoices, `layouts: ["%Y-%m-%d %H:%M:%S"]`, `layouts: ["%m/%d/%Y %H:%M"]`, 1)
	if yml == invoices {
		t.Fatal("the invoices contract has no layout to replace")
	}
	src := parseSource(t, yml, "shop", "lines")
	createTables(t, pool, src)
	file := "invoice,stock_code,description,quantity,invoiced_at,price,customer,country,discount,shipped_at\n" +
		"536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom,,\n" +
		"536366,22633,HAND WARMER,6,1/12/2011 17:05,1.85,17850,United Kingdom,,\n" +
		"536367,84879,BIRD,1,01/02/2011 08:05,1.69,17850,France,,\n" +
		"536368,22960,JAM,2,13/1/2011 8:26,4.25,17850,France,,\n" // line 5: no month 13
	r := load(t, pool, src, write(t, t.TempDir(), "2010-12-01.csv", file))[0]
	if r.Status != Loaded || r.Loaded != 3 || r.Rejected != 1 {
		t.Fatalf("got %s, %d loaded, %d rejected (%v); want loaded, 3, 1", r.Status, r.Loaded, r.Rejected, r.Err)
	}
	sameRows(t, "staging rows", rowsOf(t, pool, `SELECT source_line, to_char(invoiced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), invoice_date::text FROM staging.invoice_lines ORDER BY source_line`), []string{
		"2|2010-12-01 08:26|2010-12-01",
		"3|2011-01-12 17:05|2011-01-12",
		"4|2011-01-02 08:05|2011-01-02",
	})
	sameRows(t, "rejects", rowsOf(t, pool, `SELECT line, column_name FROM percolate.rejects`), []string{"5|5 (invoiced_at)"})
}

package loaders

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pgtest"
	wh "github.com/percolate/percolate/internal/warehouse"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testKey = []byte("test key")

// cafe returns the project's cafe pipeline.
func cafe(t testing.TB) *config.Pipeline {
	t.Helper()
	f, err := config.Load("../pipelines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Pipeline("cafe")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func warehouse(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	if err := cafeSchema(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// csvLoader is a loader of one job with the test key, and opt's S3.
func csvLoader(t testing.TB, pool *pgxpool.Pool, opt Options) *CSV {
	t.Helper()
	opt.Key, opt.Jobs = testKey, 1
	ld, err := New(pool, opt)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

func load(t *testing.T, pool *pgxpool.Pool, src *config.Source, paths ...string) []Result {
	t.Helper()
	res, err := csvLoader(t, pool, Options{}).Load(context.Background(), 0, src, paths)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const (
	rowA1 = `25/08/2021 09:00,Chesterfield,Richard Copeland,"Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte - 2.45",5.2,CARD,5494173772652516` + "\n"
	rowA2 = `25/08/2021 09:02,Chesterfield,Scott Owens,"Large Flat white - 2.45, Regular Latte - 2.15",4.6,CASH,` + "\n"
	rowA3 = `25/12/2021 17:59,Chesterfield,Francis Strayhorn,"Glass of milk - 0.7",0.70,CASH,` + "\n"
)

func TestLoadTypesAndScrubs(t *testing.T) {
	ctx := context.Background()
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	res := load(t, pool, src, write(t, dir, "chesterfield.csv", rowA1+rowA2+rowA3))
	if res[0].Status != Loaded || res[0].Loaded != 3 || res[0].Items != 5 {
		t.Fatalf("got %+v, want 3 rows and 5 items loaded", res[0])
	}
	type order struct {
		At, Local, Date, Total, Method, Branch string
	}
	rows, _ := pool.Query(ctx, `SELECT to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ordered_local::text,
		sales_date::text, total::text, payment_method, branch FROM staging.transactions ORDER BY source_line`)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[order])
	if err != nil {
		t.Fatal(err)
	}
	want := []order{
		// August is summer time: 09:00 in London is 08:00 UTC.
		{"2021-08-25 08:00:00", "2021-08-25 09:00:00", "2021-08-25", "5.20", "CARD", "Chesterfield"},
		{"2021-08-25 08:02:00", "2021-08-25 09:02:00", "2021-08-25", "4.60", "CASH", "Chesterfield"},
		{"2021-12-25 17:59:00", "2021-12-25 17:59:00", "2021-12-25", "0.70", "CASH", "Chesterfield"},
	}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i+1, got, want)
			break
		}
	}
	var items string
	// An order's items in its row: an item a line, its size (empty when
	// it has none), product and price parted by tabs.
	if err := pool.QueryRow(ctx, `SELECT string_agg(replace(coalesce(nullif(split_part(i.item, E'\t', 1), ''), '-') || E'\t' || substr(i.item, strpos(i.item, E'\t') + 1), E'\t', '|'), ';' ORDER BY t.source_line, i.n)
		FROM staging.transactions t, unnest(string_to_array(t.items, E'\n')) WITH ORDINALITY AS i(item, n)`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if want := "Regular|Flavoured iced latte - Hazelnut|2.75;Large|Latte|2.45;Large|Flat white|2.45;Regular|Latte|2.15;-|Glass of milk|0.70"; items != want {
		t.Errorf("items: got %s, want %s", items, want)
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.transactions WHERE item_count <> cardinality(string_to_array(items, E'\n'))`); n != 0 {
		t.Errorf("%d orders count other than their items", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.transactions t WHERE t::text ~ '(Copeland|Owens|Strayhorn|5494173772652516)'`); n != 0 {
		t.Errorf("%d staging rows hold personal data", n)
	}
}

func TestManifest(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	first := write(t, dir, "a.csv", rowA1+rowA2)
	if r := load(t, pool, src, first); r[0].Status != Loaded {
		t.Fatalf("first load: got %s, want loaded", r[0].Status)
	}

	t.Run("same content is skipped", func(t *testing.T) {
		if r := load(t, pool, src, first); r[0].Status != Skipped {
			t.Errorf("got %s, want skipped", r[0].Status)
		}
	})
	t.Run("same orders under another name, CRLF and padding, get the same ids: a redelivery", func(t *testing.T) {
		crlf := strings.ReplaceAll(rowA2+rowA1, "\n", "\r\n")
		crlf = strings.Replace(crlf, ",4.6,CASH,", " ,4.60   , CASH ,", 1)
		other := write(t, dir, "b.csv", "\xef\xbb\xbf"+crlf)
		if r := load(t, pool, src, other); r[0].Status != Skipped || !r[0].Redelivered {
			t.Fatalf("got %+v, want a redelivery of a.csv, skipped", r[0])
		}
		if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); n != 2 {
			t.Errorf("got %d staging rows, want a.csv's 2", n)
		}
		// Trusted by its size and time from now on, as a copy of a.csv.
		if r := load(t, pool, src, other); r[0].Status != Skipped {
			t.Errorf("again: got %s, want skipped", r[0].Status)
		}
		// With one more order it is news: loaded, the same ids for the same orders.
		more := write(t, dir, "c.csv", crlf+strings.ReplaceAll(rowA3, "\n", "\r\n"))
		if r := load(t, pool, src, more); r[0].Status != Loaded || r[0].Loaded != 3 {
			t.Fatalf("with an order more: got %+v, want a new file with 3 rows", r[0])
		}
		if n := count(t, pool, `SELECT count(DISTINCT order_id) FROM staging.transactions`); n != 3 {
			t.Errorf("got %d distinct order ids over 5 rows, want 3", n)
		}
	})
	t.Run("same name, other content, in another folder is a new file", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		os.Mkdir(sub, 0o755)
		if r := load(t, pool, src, write(t, sub, "a.csv", rowA3)); r[0].Status != Loaded {
			t.Errorf("got %s, want loaded", r[0].Status)
		}
	})
	t.Run("changed content at a known path replaces its rows", func(t *testing.T) {
		before := count(t, pool, `SELECT count(*) FROM staging.transactions`)
		write(t, dir, "a.csv", rowA1+rowA2+rowA3)
		r := load(t, pool, src, first)
		if r[0].Status != Replaced {
			t.Fatalf("got %s, want replaced", r[0].Status)
		}
		if got := count(t, pool, `SELECT count(*) FROM staging.transactions`); got != before+1 {
			t.Errorf("staging rows: got %d, want %d (2 old rows replaced by 3)", got, before+1)
		}
		if n := count(t, pool, `SELECT count(*) FROM percolate.files WHERE path = $1 AND status = 'replaced' AND replaced_by = $2`, first, r[0].LoadID); n != 1 {
			t.Errorf("manifest: %d replaced rows point at the new load, want 1", n)
		}
		sumsMatchRows(t, pool)
	})
}

// sumsMatchRows checks the sums tables against the rows they sum, both
// ways: each file's items counted and summed by day, size, product and
// branch, and its orders by day, local hour, branch and payment, with the
// rows marked repeated (or not told) counted; and nothing else.
func sumsMatchRows(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for _, tables := range [][2]string{{"staging.transaction_item_sums", "staging.transactions"}, {"staging.legacy_transaction_item_sums", "staging.legacy_transactions"}} {
		sums, items := tables[0], itemRows(tables[1])
		n := count(t, pool, `WITH want AS (SELECT load_id, sales_date, size, product, branch, count(*)::integer AS quantity, sum(price) AS revenue
			FROM `+items+` GROUP BY 1, 2, 3, 4, 5),
			got AS (SELECT load_id, sales_date, size, product, branch, quantity, revenue FROM `+sums+`)
			SELECT (SELECT count(*) FROM (TABLE want EXCEPT ALL TABLE got) AS missing) + (SELECT count(*) FROM (TABLE got EXCEPT ALL TABLE want) AS extra)`)
		if n != 0 {
			t.Errorf("%s: %d rows differ from %s counted and summed", sums, n, items)
		}
		if count(t, pool, `SELECT count(*) FROM `+items) > 0 && count(t, pool, `SELECT count(*) FROM `+sums) == 0 {
			t.Errorf("%s is empty", sums)
		}
	}
	for _, tables := range [][2]string{{"staging.transaction_sums", "staging.transactions"}, {"staging.legacy_transaction_sums", "staging.legacy_transactions"}} {
		sums, orders := tables[0], tables[1]
		n := count(t, pool, `WITH want AS (SELECT load_id, sales_date, extract(hour FROM ordered_local)::integer AS hour, branch, payment_method,
			    count(*)::integer AS orders, sum(total) AS total, sum(item_count)::integer AS item_count, (count(*) FILTER (WHERE repeated IS NOT FALSE))::integer AS repeats
			FROM `+orders+` GROUP BY 1, 2, 3, 4, 5),
			got AS (SELECT load_id, sales_date, hour, branch, payment_method, orders, total, item_count, repeats FROM `+sums+`)
			SELECT (SELECT count(*) FROM (TABLE want EXCEPT ALL TABLE got) AS missing) + (SELECT count(*) FROM (TABLE got EXCEPT ALL TABLE want) AS extra)`)
		if n != 0 {
			t.Errorf("%s: %d rows differ from %s counted and summed", sums, n, orders)
		}
		if count(t, pool, `SELECT count(*) FROM `+orders) > 0 && count(t, pool, `SELECT count(*) FROM `+sums) == 0 {
			t.Errorf("%s is empty", sums)
		}
	}
}

// itemRows is a query of the items the order rows of table keep, as the
// rows of an items table.
func itemRows(table string) string {
	return `(SELECT o.load_id, o.source_line, o.order_id, i.n::integer AS item_no, nullif(split_part(i.item, E'\t', 1), '') AS size,
		    split_part(i.item, E'\t', 2) AS product, split_part(i.item, E'\t', 3)::numeric(10,2) AS price, o.sales_date, o.branch
		FROM ` + table + ` AS o, unnest(string_to_array(o.items, E'\n')) WITH ORDINALITY AS i(item, n)) AS items`
}

// TestItemsTable: a source may keep its items in a table of their own, one
// row per item, instead of a column of its rows; the same files make the
// same items, sums and order rows either way, whether loaded in a group
// of small files or streamed.
func TestItemsTable(t *testing.T) {
	ctx := context.Background()
	pool := warehouse(t)
	inline := cafe(t).Sources["transactions"]
	src := *inline
	src.Name, src.Table = "t_transactions", "staging.t_orders"
	src.Sums = &config.RowSums{}
	*src.Sums = *inline.Sums
	src.Sums.Table = "staging.t_sums"
	src.Columns = slices.Clone(inline.Columns)
	for i, c := range src.Columns {
		if c.Type != config.List {
			continue
		}
		cc, it := *c, *c.Items
		it.Table, it.Column, it.Carry = "staging.t_items", "", []string{"branch"}
		sums := *it.Sums
		sums.Table = "staging.t_item_sums"
		it.Sums = &sums
		cc.Items = &it
		src.Columns[i] = &cc
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE staging.t_orders (LIKE staging.transactions);
		ALTER TABLE staging.t_orders DROP COLUMN items;
		CREATE TABLE staging.t_items (load_id bigint NOT NULL, source_line integer NOT NULL, order_id uuid NOT NULL, item_no integer NOT NULL,
		    size text, product text NOT NULL, price numeric(10,2) NOT NULL, sales_date date NOT NULL, branch text NOT NULL);
		CREATE TABLE staging.t_item_sums (LIKE staging.transaction_item_sums);
		CREATE TABLE staging.t_sums (LIKE staging.transaction_sums)`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths := []string{write(t, dir, "chesterfield_25-08-2021_09-00-00.csv", rowA1+rowA2+rowA3), bigFile(t, 60_000)}
	for _, s := range []*config.Source{inline, &src} {
		for _, r := range load(t, pool, s, paths...) {
			if r.Status != Loaded || r.Items == 0 {
				t.Fatalf("%s: got %+v, want the file loaded", s.Table, r)
			}
		}
	}
	// The two loads number their files apart: compare each file's rows by
	// its place among the loads.
	byFile := func(table string) string {
		return `(SELECT dense_rank() OVER (ORDER BY load_id) AS file, * FROM ` + table + `) AS x`
	}
	for _, pair := range [][2]string{
		{byFile(itemRows("staging.transactions")), byFile("staging.t_items")},
		{byFile("staging.transaction_item_sums"), byFile("staging.t_item_sums")},
		{byFile("staging.transaction_sums"), byFile("staging.t_sums")},
		{byFile("(SELECT load_id, source_line, order_id, ordered_at, sales_date, branch, total, payment_method, item_count, repeated FROM staging.transactions) AS o"),
			byFile("(SELECT load_id, source_line, order_id, ordered_at, sales_date, branch, total, payment_method, item_count, repeated FROM staging.t_orders) AS o")},
	} {
		n := count(t, pool, `WITH a AS (SELECT * FROM `+pair[0]+`), b AS (SELECT * FROM `+pair[1]+`)
			SELECT (SELECT count(*) FROM (SELECT to_jsonb(a) - 'load_id' FROM a EXCEPT ALL SELECT to_jsonb(b) - 'load_id' FROM b) AS missing)
			     + (SELECT count(*) FROM (SELECT to_jsonb(b) - 'load_id' FROM b EXCEPT ALL SELECT to_jsonb(a) - 'load_id' FROM a) AS extra)`)
		if n != 0 {
			t.Errorf("%d rows differ between\n  %s\nand\n  %s", n, pair[0], pair[1])
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.t_items`); n < 60_000 {
		t.Errorf("the items table has %d rows, want those of 60,000 orders and more", n)
	}
}

// TestSumsOfABigFile: a file streamed (past the size of files loaded in
// groups) writes its items' and orders' sums as a group's small files do.
func TestSumsOfABigFile(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	path := bigFile(t, 60_000)
	if st, err := os.Stat(path); err != nil || st.Size() <= smallFile {
		t.Fatalf("the file is not big enough to be streamed: %v, %v", st.Size(), err)
	}
	r := load(t, pool, src, path)
	if r[0].Status != Loaded || r[0].Items == 0 {
		t.Fatalf("got %+v, want the file loaded", r[0])
	}
	if n := count(t, pool, `SELECT sum(quantity) FROM staging.transaction_item_sums`); int64(n) != r[0].Items {
		t.Errorf("the sums count %d items, the load %d", n, r[0].Items)
	}
	if n := count(t, pool, `SELECT sum(orders) FROM staging.transaction_sums`); int64(n) != r[0].Loaded {
		t.Errorf("the sums count %d orders, the load %d", n, r[0].Loaded)
	}
	sumsMatchRows(t, pool)
}

func TestRejects(t *testing.T) {
	pool := warehouse(t)
	pl := cafe(t)
	src := pl.Sources["transactions"]
	dir := t.TempDir()
	bad := `25/08/2021 09:05,Chesterfield,Jane Doe,"Large Latte - 2.45",2.45,CARD` + "\n" + // 6 fields
		`32/08/2021 09:06,Chesterfield,John Roe,"Large Latte - 2.45",2.45,CARD,4111111111111111` + "\n" +
		`25/08/2021 09:07,Chesterfield,Ann Poe,"Large Latte - 2.45",two,CASH,` + "\n" +
		`25/08/2021 09:08,Chesterfield,Bob Loe,"Large Latte",2.45,CASH,` + "\n" +
		`25/08/2021 09:09,Chesterfield,Cy Moe,"Large Latte - 2.45",2.45,BITCOIN,` + "\n"
	var good strings.Builder
	for i := 0; i < 500; i++ {
		good.WriteString(strings.Replace(rowA2, "09:02", "10:"+string(rune('0'+i/100%6))+string(rune('0'+i%10)), 1))
	}

	t.Run("a few bad rows are kept aside", func(t *testing.T) {
		path := write(t, dir, "some-bad.csv", rowA1+good.String()+bad)
		r := load(t, pool, src, path)[0]
		if r.Status != Loaded || r.Rejected != 5 || r.Loaded != 501 {
			t.Fatalf("got %s with %d loaded, %d rejected (%v); want loaded, 501, 5", r.Status, r.Loaded, r.Rejected, r.Err)
		}
		rows, _ := pool.Query(context.Background(), `SELECT line, coalesce(column_name, ''), reason, raw FROM percolate.rejects ORDER BY line`)
		type rej struct {
			Line             int
			Column, Why, Raw string
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rej])
		if err != nil {
			t.Fatal(err)
		}
		want := []rej{
			{502, "", "6 fields, the contract has 7", "***,***,***,***,***,***"},
			{503, "1 (ordered_at)", `does not match`, `***,Chesterfield,***,Large Latte - 2.45,2.45,CARD,***`},
			{504, "5 (total)", `is not a number`, ""},
			{505, "4 (basket)", `item 1: expected " - " after {product}`, ""},
			{506, "6 (payment_method)", `is not one of CASH, CARD`, ""},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d rejects %+v, want %d", len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Line != w.Line || g.Column != w.Column || !strings.Contains(g.Why, w.Why) || (w.Raw != "" && g.Raw != w.Raw) {
				t.Errorf("reject %d: got %+v, want %+v", i, g, w)
			}
			for _, name := range []string{"Jane Doe", "John Roe", "Ann Poe", "Bob Loe", "Cy Moe", "4111111111111111"} {
				if strings.Contains(g.Raw, name) {
					t.Errorf("reject %d: raw %q holds personal data %q", i, g.Raw, name)
				}
			}
		}
	})

	t.Run("past max_rejects the file is refused whole", func(t *testing.T) {
		before := count(t, pool, `SELECT count(*) FROM staging.transactions`)
		path := write(t, dir, "mostly-bad.csv", strings.Replace(rowA1, "09:00", "11:00", 1)+bad)
		r := load(t, pool, src, path)[0]
		var re *RefusedError
		if r.Status != Refused || !errors.As(r.Err, &re) {
			t.Fatalf("got %s (%v), want refused", r.Status, r.Err)
		}
		msg := r.Err.Error()
		for _, want := range []string{"mostly-bad.csv: refused: 5 of 6 rows rejected", "mostly-bad.csv:2: 6 fields", "mostly-bad.csv:3, column 1 (ordered_at)"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
		}
		if got := count(t, pool, `SELECT count(*) FROM staging.transactions`); got != before {
			t.Errorf("staging rows: got %d, want %d: nothing of a refused file stays", got, before)
		}
		if n := count(t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE '%mostly-bad.csv' AND status = 'refused'`); n != 1 {
			t.Errorf("manifest holds %d refusals of the file, want 1", n)
		}
		if n := count(t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE '%mostly-bad.csv' AND status <> 'refused'`); n != 0 {
			t.Errorf("manifest holds %d other rows for the refused file, want 0", n)
		}
		again := load(t, pool, src, path)[0]
		if again.Status != RefusedEarlier || again.Err == nil || !strings.Contains(again.Err.Error(), "5 of 6 rows rejected") {
			t.Errorf("loaded again: %s (%v), want refused earlier, with the reason", again.Status, again.Err)
		}
	})
}

func TestNotCSV(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file: binary data"},
		{"empty", "", "no data rows"},
		{"blank", "\n  \n", "no data rows"},
		{"other layout", "2021-02-23 09:00:48,Isle of Wight,Morgan Berka,\"Large,Hot chocolate,2.9\",CASH,2.90,None,extra\n", "not a transactions file: no row has the 7 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := load(t, pool, src, write(t, dir, tt.name+".csv", tt.content))[0]
			if r.Status != Refused || r.Err == nil || !strings.Contains(r.Err.Error(), tt.want) {
				t.Errorf("got %s (%v), want refused saying %q", r.Status, r.Err, tt.want)
			}
			if strings.Count(r.Err.Error(), "\n") > 1 {
				t.Errorf("got a stack of errors %q, want one clear line", r.Err)
			}
		})
	}
}

func TestNumericEncoding(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE n (v numeric(18,2), w numeric(18,4))`); err != nil {
		t.Fatal(err)
	}
	vals := []int64{0, 1, 5, 70, 100, 520, 1305, -75, -310, 9999, 10000, 123456789, 100000000, -100000001, 922337203685477}
	var buf []byte
	buf = append(buf, copyHeader...)
	for _, v := range vals {
		buf = append(buf, 0, 2)
		buf = appendNumeric(buf, v, 2)
		buf = appendNumeric(buf, v, 4)
	}
	buf = append(buf, 0xff, 0xff)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, strings.NewReader(string(buf)), "COPY n FROM STDIN (FORMAT binary)"); err != nil {
		t.Fatal(err)
	}
	rows, _ := conn.Query(ctx, "SELECT v::text, w::text FROM n")
	i := 0
	for rows.Next() {
		var v, w string
		rows.Scan(&v, &w)
		if want := string(appendDecimal(nil, vals[i], 2)); v != want {
			t.Errorf("numeric(18,2) %d: got %s, want %s", vals[i], v, want)
		}
		if want := string(appendDecimal(nil, vals[i], 4)); w != want {
			t.Errorf("numeric(18,4) %d: got %s, want %s", vals[i], w, want)
		}
		i++
	}
	if i != len(vals) {
		t.Errorf("got %d rows, want %d", i, len(vals))
	}
}

// TestGroupRefusedByTheServer: small files load in groups, one COPY per
// table per group. When the server refuses a group (here a total that
// parses but overflows numeric(10,2), the loader not told the column's
// precision), the group is loaded again file by file: the faulty one is
// refused with the server's message, recorded as refused, nothing of it in
// staging, and the others load. Told the precision, the loader rejects
// the row itself, naming line and column.
func TestGroupRefusedByTheServer(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	// Each price fits the items column (numeric(10,2)); their total does
	// not fit staging.transactions.total, numeric(10,2).
	huge := `25/08/2021 10:00,Chesterfield,Ann Huge,"Large Latte - 99999999.99, Large Latte - 99999999.99",199999999.98,CARD,4111111111111111` + "\n"
	paths := []string{
		write(t, dir, "a_good.csv", rowA1),
		write(t, dir, "b_overflow.csv", rowA2+huge),
		write(t, dir, "c_good.csv", rowA3),
	}
	res, err := csvLoader(t, pool, Options{}).Load(context.Background(), 0, src, paths)
	if err != nil {
		t.Fatalf("got %v, want the other files loaded and the faulty one refused", err)
	}
	if res[1].Status != Refused || res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "b_overflow.csv: refused: the database refused its rows: numeric field overflow") {
		t.Errorf("b_overflow.csv: %s (%v), want refused with the server's message", res[1].Status, res[1].Err)
	}
	for _, i := range []int{0, 2} {
		if res[i].Status != Loaded {
			t.Errorf("%s: %s (%v), want loaded", res[i].Path, res[i].Status, res[i].Err)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.transactions JOIN percolate.files USING (load_id) WHERE path LIKE '%b_overflow.csv'`); n != 0 {
		t.Errorf("%d rows of the refused file in staging, want none", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE '%b_overflow.csv' AND status = 'refused' AND reason LIKE '%numeric field overflow%'`); n != 1 {
		t.Errorf("b_overflow.csv refused in the manifest %d times, want once, with the reason", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM percolate.files WHERE path LIKE '%a_good.csv'`); n != 1 {
		t.Errorf("a_good.csv in the manifest %d times, want once", n)
	}

	told := Options{Precision: map[string]int{"staging.transactions.total": 10}}
	d := write(t, dir, "d_overflow.csv", strings.Replace(rowA2, "09:", "12:", 1)+strings.Replace(huge, "10:00", "12:30", 1))
	res, err = csvLoader(t, pool, told).Load(context.Background(), 0, src, []string{d})
	if err != nil {
		t.Fatal(err)
	}
	var re *RefusedError
	if !errors.As(res[0].Err, &re) || len(re.First) != 1 {
		t.Fatalf("d_overflow.csv: %s (%v), want refused for its one reject", res[0].Status, res[0].Err)
	}
	if r := re.First[0]; r.Line != 2 || r.Column != "total" || !strings.Contains(r.Reason, "out of range: 9 digits before the point, where its column takes at most 8") {
		t.Errorf("reject %+v, want line 2, total, out of range", r)
	}

	// A price the items column cannot hold is the loader's to reject,
	// told or not.
	e := write(t, dir, "e_overflow.csv", strings.Replace(rowA2, "09:", "13:", 1)+
		`25/08/2021 13:30,Chesterfield,Ann Huge,"Large Latte - 123456789012.45",123456789012.45,CARD,4111111111111111`+"\n")
	res, err = csvLoader(t, pool, Options{}).Load(context.Background(), 0, src, []string{e})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.As(res[0].Err, &re) || len(re.First) != 1 {
		t.Fatalf("e_overflow.csv: %s (%v), want refused for its one reject", res[0].Status, res[0].Err)
	}
	if r := re.First[0]; r.Line != 2 || r.Column != "basket" || !strings.Contains(r.Reason, "out of range: 12 digits before the point, where its column takes at most 8") {
		t.Errorf("reject %+v, want line 2, basket, out of range", r)
	}
}

// TestRepeatedRows: a row whose id came earlier in the same file says so;
// past the ids the loader keeps, rows say they cannot tell (NULL), and
// the SQL models search those days whole.
func TestRepeatedRows(t *testing.T) {
	c, err := newContract(cafe(t).Sources["transactions"], testKey)
	if err != nil {
		t.Fatal(err)
	}
	fl := newFileLoad(c, strings.NewReader(""), 1, "f.csv")
	defer fl.release()
	fl.maxSeen = 2
	b := array.NewBooleanBuilder(allocator)
	defer b.Release()
	for _, k := range []byte{1, 2, 1, 3, 1} {
		fl.putRepeated(b, [16]byte{k})
	}
	a := b.NewBooleanArray()
	defer a.Release()
	var got []string
	for i := range a.Len() {
		switch {
		case a.IsNull(i):
			got = append(got, "null")
		default:
			got = append(got, strconv.FormatBool(a.Value(i)))
		}
	}
	if want := "false false true null null"; strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}

// brinIndexes lists the BRIN indexes of the cafe's layout-A staging tables.
func brinIndexes(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'brin' AND i.indrelid IN ('staging.transactions'::regclass, 'staging.transaction_item_sums'::regclass)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeferredIndexes: a load that at least doubles its tables drops
// their BRIN indexes while it runs and builds them again when it ends; one
// a killed load left dropped is built by the next load; a load much
// smaller than its tables keeps them.
func TestDeferredIndexes(t *testing.T) {
	ctx := context.Background()
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	want := brinIndexes(t, pool)
	if strings.Count(want, ",") != 1 {
		t.Fatalf("the staging tables have BRIN indexes %q, want two", want)
	}
	loadWith := func(from int64, paths ...string) (during []string) {
		t.Helper()
		ld, err := New(pool, Options{Key: testKey, Jobs: 1, DeferIndexesFrom: from, OnFile: func(Result) {
			during = append(during, brinIndexes(t, pool))
		}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := ld.Load(ctx, 0, src, paths)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != Loaded {
				t.Fatalf("got %+v, want loaded", r)
			}
		}
		return during
	}

	during := loadWith(1, write(t, dir, "a.csv", rowA1+rowA2), write(t, dir, "b.csv", rowA3))
	if len(during) == 0 || during[0] != "" {
		t.Errorf("during a load that doubles the tables, the BRIN indexes were %q, want none", during)
	}
	if got := brinIndexes(t, pool); got != want {
		t.Errorf("after the load: %q, want %q", got, want)
	}
	if n := count(t, pool, `SELECT count(*) FROM percolate.deferred_indexes`); n != 0 {
		t.Errorf("%d deferred indexes recorded after the load, want none", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); n != 3 {
		t.Errorf("%d rows loaded, want 3", n)
	}

	// A load killed with its indexes dropped leaves them recorded.
	engine, err := wh.Detect(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.DeferIndexes(ctx, pool, []string{"staging.transactions", "staging.transaction_item_sums"}); err != nil {
		t.Fatal(err)
	}
	if got := brinIndexes(t, pool); got != "" {
		t.Fatalf("after the drop: %q", got)
	}
	during = loadWith(-1, write(t, dir, "c.csv", strings.Replace(rowA1, "09:00", "10:00", 1)))
	if len(during) == 0 || during[0] != want {
		t.Errorf("the next load ran with BRIN indexes %q, want them built again first: %q", during, want)
	}

	// A load far smaller than what the tables hold (a page each) keeps them.
	during = loadWith(1, write(t, dir, "d.csv", strings.Replace(rowA1, "09:00", "11:00", 1)))
	if len(during) == 0 || during[0] != want {
		t.Errorf("a small load ran with BRIN indexes %q, want %q", during, want)
	}
}

// RelPath's quick way with clean absolute paths and filepath.Rel's with
// the others agree.
func TestRelPath(t *testing.T) {
	for _, c := range []struct{ root, path, want string }{
		{"/p", "/p/data/a.csv", "data/a.csv"},
		{"/p", "/p", "."},
		{"/p", "/pq/a.csv", "/pq/a.csv"},
		{"/p", "/q/a.csv", "/q/a.csv"},
		{"/p/q", "/p/a.csv", "/p/a.csv"},
		{"/", "/p/a.csv", "p/a.csv"},
		{"/p/", "/p/a.csv", "a.csv"},
		{"/p", "/p/./a.csv", "a.csv"},
		{"/p", "/p/../p/a.csv", "a.csv"},
		{"/p", "/p/..a/b.csv", "..a/b.csv"}, // inside, if oddly named
		{"/p/", "/p/..a/b.csv", "..a/b.csv"},
		{"/p", "data/a.csv", "data/a.csv"},
		{"", "/p/a.csv", "/p/a.csv"},
	} {
		if got := RelPath(c.root, c.path); got != c.want {
			t.Errorf("RelPath(%q, %q) = %q, want %q", c.root, c.path, got, c.want)
		}
	}
}

// A local file recorded with the same path, size and modification time is
// taken to be unchanged and not read; one touched is read, found known,
// and its new time recorded so that the next load trusts it again.
func TestUnchangedFiles(t *testing.T) {
	ctx := context.Background()
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	dir := t.TempDir()
	path := write(t, dir, "a.csv", rowA1+rowA2)
	if r := load(t, pool, src, path); r[0].Status != Loaded {
		t.Fatalf("first load: got %s, want loaded", r[0].Status)
	}
	recorded := func() time.Time {
		t.Helper()
		var at time.Time
		if err := pool.QueryRow(ctx, `SELECT modified_at FROM percolate.files WHERE path = $1 AND status = 'loaded'`, path).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	setTime := func(at time.Time) {
		t.Helper()
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}

	touched := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	setTime(touched)
	if r := load(t, pool, src, path); r[0].Status != Skipped {
		t.Fatalf("touched: got %s, want skipped (same content)", r[0].Status)
	}
	if got := recorded(); !got.Equal(touched) {
		t.Errorf("touched: the manifest says modified %s, want the new time %s", got, touched)
	}

	// Other content of the same size, under the recorded time: trusted
	// unchanged, not read (what skipping by path, size and time trusts).
	write(t, dir, "a.csv", strings.Replace(rowA1+rowA2, "Scott Owens", "Scott Olens", 1))
	setTime(touched)
	if r := load(t, pool, src, path); r[0].Status != Skipped {
		t.Errorf("same size and time: got %s, want skipped unread", r[0].Status)
	}
	// Unless told to read every file.
	r, err := csvLoader(t, pool, Options{Rehash: true}).Load(ctx, 0, src, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if r[0].Status != Replaced {
		t.Errorf("rehash: got %s, want replaced", r[0].Status)
	}
	// A listing's stat is trusted as the load's own.
	write(t, dir, "a.csv", rowA1+rowA2+rowA3)
	st := Stat{Size: int64(len(rowA1 + rowA2)), Modified: touched}
	listed := func(p string) (Stat, bool) { return st, p == path }
	if r, err = csvLoader(t, pool, Options{Listed: listed}).Load(ctx, 0, src, []string{path}); err != nil {
		t.Fatal(err)
	}
	if r[0].Status != Skipped {
		t.Errorf("listed as recorded: got %s, want skipped unread", r[0].Status)
	}
	if r = load(t, pool, src, path); r[0].Status != Replaced {
		t.Errorf("stat'ed: got %s, want replaced", r[0].Status)
	}

	// A file that grew after its listing is recorded with the size listed;
	// the next load reads it, finds it known, and records its real size,
	// so that the one after trusts it.
	grown := write(t, dir, "b.csv", rowA3)
	fi, err := os.Stat(grown)
	if err != nil {
		t.Fatal(err)
	}
	at := fi.ModTime().UTC().Truncate(time.Microsecond)
	early := func(p string) (Stat, bool) { return Stat{Size: 3, Modified: at}, p == grown }
	if r, err = csvLoader(t, pool, Options{Listed: early}).Load(ctx, 0, src, []string{grown}); err != nil || r[0].Status != Loaded {
		t.Fatalf("grown, first load: got %v, %v; want loaded", r, err)
	}
	if r = load(t, pool, src, grown); r[0].Status != Skipped {
		t.Errorf("grown, read again: got %s, want skipped", r[0].Status)
	}
	write(t, dir, "b.csv", strings.Replace(rowA3, "Francis Strayhorn", "Francis Strayhorm", 1))
	if err := os.Chtimes(grown, at, at); err != nil {
		t.Fatal(err)
	}
	if r = load(t, pool, src, grown); r[0].Status != Skipped {
		t.Errorf("grown, its real size recorded: got %s, want skipped unread", r[0].Status)
	}

	// A copy under a new name of loaded content is read once, found known,
	// and trusted after that while the content it copies stays loaded.
	content := rowA1 + rowA2 + rowA3 // what a.csv holds, loaded
	cp := write(t, dir, "copy.csv", content)
	if r = load(t, pool, src, cp); r[0].Status != Skipped {
		t.Fatalf("copy: got %s, want skipped", r[0].Status)
	}
	cfi, err := os.Stat(cp)
	if err != nil {
		t.Fatal(err)
	}
	cat := cfi.ModTime()
	write(t, dir, "copy.csv", strings.Replace(content, "Scott Owens", "Scott Olens", 1))
	if err := os.Chtimes(cp, cat, cat); err != nil {
		t.Fatal(err)
	}
	if r = load(t, pool, src, cp); r[0].Status != Skipped {
		t.Errorf("copy, unchanged: got %s, want skipped unread", r[0].Status)
	}
	// Once a.csv's content is replaced, the copy is read again: its
	// content must be loaded from it now.
	write(t, dir, "copy.csv", content)
	if err := os.Chtimes(cp, cat, cat); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.csv", rowA1)
	if r = load(t, pool, src, path); r[0].Status != Replaced {
		t.Fatalf("a.csv rewritten: got %s, want replaced", r[0].Status)
	}
	if r = load(t, pool, src, cp); r[0].Status != Loaded {
		t.Errorf("copy of content no longer loaded: got %s, want loaded", r[0].Status)
	}
}

// chunks reads its slices in order as one stream, across their ends and
// past empty ones, whatever the size of the reads.
func TestChunks(t *testing.T) {
	for _, size := range []int{1, 3, 7, 64} {
		c := chunks{[]byte("PG"), nil, []byte("abc"), {}, []byte("defghij"), []byte("k")}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil || n == 0 {
				t.Fatalf("read %d: n %d, err %v", size, n, err)
			}
		}
		if string(got) != "PGabcdefghijk" {
			t.Errorf("reads of %d: got %q", size, got)
		}
	}
}

// cafeSchema gives pool the ledger and the staging tables of the
// repository's own project (its migrations/ folder), as a run does.
func cafeSchema(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := ledger.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := migrate.EnsureSchemas(ctx, pool, []string{"staging"}, []string{"core", "health", "marts"}); err != nil {
		return err
	}
	_, err := migrate.Up(ctx, pool, os.DirFS("../migrations"), migrate.ProjectTable)
	return err
}

package cli

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestOnboardInvoiceLines onboards a dataset of another shape as a new
// user would, with no Go and no file copied: daily files of an online
// shop's invoice lines, in the layout of the public "Online Retail" data
// (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
// CustomerID written as 17850.0, Country), with descriptions quoted for
// their commas and quotes, a few empty descriptions and customers a day,
// and cancellations as negative quantities on invoices numbered C….
// Steps: init, a source entry, migrate create --source, a mart, run. No
// file is refused, no row rejected, and the mart is what the test sums
// from the lines it wrote.
func TestOnboardInvoiceLines(t *testing.T) {
	dir := t.TempDir()
	url := pgtest.URL(t)
	mustRun(t, dir, url, "init")
	lines := writeInvoiceFiles(t, filepath.Join(dir, "incoming"), []string{"2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05"})

	f, err := os.OpenFile(filepath.Join(dir, "pipelines.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(invoicesSource); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if r := mustRun(t, dir, url, "migrate", "create", "--source", "invoices"); !strings.Contains(r.stdout, "migrations/00002_invoices_staging.sql") {
		t.Errorf("migrate create --source invoices: %s", r.stdout)
	}
	write(t, dir, "models/marts/country_days.sql", countryDaysSQL)
	write(t, dir, "models/marts/country_days.test.yaml", countryDaysTest)
	mustRun(t, dir, url, "validate")
	if r := mustRun(t, dir, url, "test", "--unit"); !strings.Contains(r.stdout, "ok   marts.country_days › a cancellation is deducted") {
		t.Errorf("test --unit:\n%s", r.stdout)
	}

	r := mustRun(t, dir, url, "run")
	m := filesLine.FindStringSubmatch(r.stdout)
	if m == nil || m[1] != "5" || !strings.Contains(r.stdout, " 0 refused") || !strings.Contains(r.stdout, fmt.Sprintf("rows:    %d loaded", len(lines)+12)) || !strings.Contains(r.stdout, "0 rejected") {
		t.Fatalf("run: want 5 files (4 of invoices, the example's), %d rows loaded, none refused or rejected, got:\n%s", len(lines)+12, r.stdout)
	}
	pool := connect(t, url)
	got := scalar[string](t, pool, `SELECT string_agg(concat_ws(' ', country, invoice_day, invoices, cancelled_invoices, revenue, cancelled), E'\n' ORDER BY country COLLATE "C", invoice_day) FROM marts.country_days`)
	if want := countryDays(lines); got != want {
		t.Errorf("marts.country_days: got\n%s\nwant\n%s", got, want)
	}
	var noDesc, noCustomer int
	for _, l := range lines {
		noDesc += btoi(l.description == "")
		noCustomer += btoi(l.customer == 0)
	}
	if got := scalar[string](t, pool, `SELECT count(*) FILTER (WHERE description IS NULL) || ' ' || count(*) FILTER (WHERE customer_id IS NULL) || ' ' || count(*) FILTER (WHERE description LIKE '%,%') FROM staging.invoice_lines`); got != fmt.Sprintf("%d %d %d", noDesc, noCustomer, commas(lines)) {
		t.Errorf("staging: lines without a description, a customer, with a comma in the description: got %s, want %d %d %d", got, noDesc, noCustomer, commas(lines))
	}
	if r := mustRun(t, dir, url, "run"); !strings.Contains(r.stdout, "files:   0 loaded, 0 replaced, 5 skipped") || !strings.Contains(r.stdout, "models:  0 built") {
		t.Errorf("second run: want nothing to do, got:\n%s", r.stdout)
	}
}

// invoicesSource is the source entry a user appends to init's
// pipelines.yaml, beside the example's.
const invoicesSource = `
      invoices:
        description: The online shop's invoice lines, a file a day.
        path: incoming/invoices_*.csv
        header: true
        time_zone: Europe/London
        max_rejects: 0
        table: staging.invoice_lines
        file_date: {pattern: 'invoices_(\d{4}-\d{2}-\d{2})\.csv$', layout: "%Y-%m-%d"}
        key:
          column: line_key
          from: [invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_id, country]
          repeated: repeated
        columns:
          - name: invoice_no
          - name: stock_code
          - name: description
            optional: true
          - name: quantity
            type: integer
          - name: invoice_date
            type: timestamp
            layouts: ["%Y-%m-%d %H:%M:%S"]
            date: invoice_day
          - name: unit_price
            type: numeric
            scale: 2
          - name: customer_id
            type: integer
            optional: true
          - name: country
`

const countryDaysSQL = `-- materialized: table
-- description: Net revenue per country and day of the shop's invoice lines, cancellations (negative quantities) deducted.
-- check: unique(country, invoice_day)
SELECT country,
       invoice_day,
       count(DISTINCT invoice_no) FILTER (WHERE quantity > 0)::integer AS invoices,
       count(DISTINCT invoice_no) FILTER (WHERE quantity < 0)::integer AS cancelled_invoices,
       sum(quantity * unit_price) AS revenue,
       coalesce(-sum(quantity * unit_price) FILTER (WHERE quantity < 0), 0.00) AS cancelled
FROM staging.invoice_lines
GROUP BY country, invoice_day
`

// countryDaysTest is the unit test docs/getting-started.md shows.
const countryDaysTest = `cases:
  - name: a cancellation is deducted
    given:
      staging.invoice_lines:
        - {invoice_no: "536365", country: France, invoice_day: 2010-12-01, quantity: 6, unit_price: 2.55}
        - {invoice_no: C536379, country: France, invoice_day: 2010-12-01, quantity: -2, unit_price: 2.55}
    expect:
      - {country: France, invoice_day: 2010-12-01, invoices: 1, revenue: 10.20}
`

// invoiceLine is one line of the invoice files, as written.
type invoiceLine struct {
	invoice, stock, description string
	quantity                    int
	at                          string // YYYY-MM-DD HH:MM:SS, London time
	pence                       int64
	customer                    int // 0: none
	country                     string
}

var products = []struct {
	stock, description string
	pence              int64
}{
	{"85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 255},
	{"71053", "WHITE METAL LANTERN", 339},
	{"84406B", "CREAM CUPID HEARTS COAT HANGER", 275},
	{"22752", "SET 7 BABUSHKA NESTING BOXES", 765},
	{"21730", "GLASS STAR FROSTED T-LIGHT HOLDER", 425},
	{"22633", "HAND WARMER UNION JACK", 185},
	{"84879", "ASSORTED COLOUR BIRD ORNAMENT", 169},
	{"22960", "JAM MAKING SET WITH JARS", 425},
	{"21754", "HOME BUILDING BLOCK WORD", 595},
	{"22745", "POPPY'S PLAYHOUSE BEDROOM ", 210},
	{"22086", "PAPER CHAIN KIT 50'S CHRISTMAS ", 295},
	{"21212", "PACK OF 72 RETROSPOT CAKE CASES", 55},
	{"79323W", "WHITE CHERRY LIGHTS", 675},
	{"22114", "HOT WATER BOTTLE TEA AND SYMPATHY", 395},
	{"21071", "VINTAGE BILLBOARD DRINK ME MUG", 106},
	{"22505", "MEMO BOARD RETROSPOT  DESIGN", 495},
	{"90214Y", "LETTER \"Y\" BLING KEY RING", 29},
	{"22910", "PAPER CHAIN KIT VINTAGE CHRISTMAS", 295},
	{"21175", "GIN + TONIC DIET METAL SIGN", 250},
	{"85099B", "JUMBO BAG RED RETROSPOT", 195},
	{"47566", "PARTY BUNTING", 465},
	{"20725", "LUNCH BAG RED RETROSPOT", 165},
	{"22138", "BAKING SET 9 PIECE RETROSPOT ", 495},
	{"21166", "COOK WITH WINE METAL SIGN ", 195},
	{"84029E", "RED WOOLLY HOTTIE WHITE HEART.", 339},
	{"22727", "ALARM CLOCK BAKELIKE RED ", 375},
	{"84970S", "HANGING HEART ZINC T-LIGHT HOLDER", 85},
	{"22197", "SMALL POPCORN HOLDER", 85},
	{"23084", "RABBIT NIGHT LIGHT", 208},
	{"M", "Manual", 1995},
	{"POST", "POSTAGE", 1800},
	{"21034", "REX CASH+CARRY JUMBO SHOPPER", 95},
	{"85049A", "TRADITIONAL CHRISTMAS RIBBONS", 125},
	{"22111", "SCOTTIE DOG HOT WATER BOTTLE", 495},
	{"23203", "JUMBO BAG DOILEY PATTERNS", 208},
	{"22423", "REGENCY CAKESTAND 3 TIER", 1275},
	// Descriptions with the separator, which the files quote.
	{"22804", "CANDLEHOLDER PINK HANGING HEART, SMALL", 295},
	{"23355", "HOT WATER BOTTLE KEEP CALM, LARGE", 495},
	{"21485", "RETROSPOT HEART HOT WATER BOTTLE, \"BIG\"", 495},
	{"84380", "SET OF 3 BUTTERFLY COOKIE CUTTERS, ASSORTED", 125},
}

var countries = []string{"United Kingdom", "United Kingdom", "United Kingdom", "France", "Germany", "EIRE", "Netherlands", "Spain", "Channel Islands"}

// writeInvoiceFiles writes a file of invoice lines per day into dir and
// returns the lines.
func writeInvoiceFiles(t *testing.T, dir string, days []string) []invoiceLine {
	t.Helper()
	rng := rand.New(rand.NewPCG(27, 3))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var all []invoiceLine
	next := 536365
	for _, day := range days {
		var lines []invoiceLine
		for range 40 + rng.IntN(20) {
			next++
			invoice := strconv.Itoa(next)
			sign := 1
			if rng.IntN(12) == 0 {
				invoice, sign = "C"+invoice, -1
			}
			customer := 12346 + rng.IntN(6000)
			country := countries[rng.IntN(len(countries))]
			at := fmt.Sprintf("%s %02d:%02d:00", day, 8+rng.IntN(11), rng.IntN(60))
			for range 1 + rng.IntN(8) {
				p := products[rng.IntN(len(products))]
				lines = append(lines, invoiceLine{invoice: invoice, stock: p.stock, description: p.description, quantity: sign * (1 + rng.IntN(24)),
					at: at, pence: p.pence, customer: customer, country: country})
			}
		}
		// A few lines a day without a description or a customer.
		for range 3 {
			lines[rng.IntN(len(lines))].description = ""
			lines[rng.IntN(len(lines))].customer = 0
		}
		all = append(all, lines...)
		writeInvoiceFile(t, filepath.Join(dir, "invoices_"+day+".csv"), lines)
	}
	return all
}

// writeInvoiceFile writes lines as the public data is written: quoted
// where a field holds the separator or a quote, prices with their needed
// decimals only, customer ids as decimals.
func writeInvoiceFile(t *testing.T, path string, lines []invoiceLine) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"})
	for _, l := range lines {
		customer := ""
		if l.customer != 0 {
			customer = strconv.Itoa(l.customer) + ".0"
		}
		price := strconv.FormatFloat(float64(l.pence)/100, 'f', -1, 64)
		w.Write([]string{l.invoice, l.stock, l.description, strconv.Itoa(l.quantity), l.at, price, customer, l.country})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// countryDays sums the lines as marts.country_days should: a line per
// country and day with invoices, cancelled invoices, net revenue and the
// revenue cancelled.
func countryDays(lines []invoiceLine) string {
	type key struct{ country, day string }
	type sums struct {
		invoices, cancelled map[string]bool
		net, back           int64
	}
	by := map[key]*sums{}
	for _, l := range lines {
		k := key{l.country, l.at[:10]}
		s := by[k]
		if s == nil {
			s = &sums{invoices: map[string]bool{}, cancelled: map[string]bool{}}
			by[k] = s
		}
		amount := int64(l.quantity) * l.pence
		s.net += amount
		if l.quantity < 0 {
			s.cancelled[l.invoice] = true
			s.back -= amount
		} else {
			s.invoices[l.invoice] = true
		}
	}
	var out []string
	for k, s := range by {
		out = append(out, fmt.Sprintf("%s %s %d %d %s %s", k.country, k.day, len(s.invoices), len(s.cancelled), pounds(s.net), pounds(s.back)))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func commas(lines []invoiceLine) int {
	n := 0
	for _, l := range lines {
		n += btoi(strings.Contains(l.description, ","))
	}
	return n
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pounds writes pence as pounds with two decimals, as numeric(…,2) is.
func pounds(pence int64) string {
	sign := ""
	if pence < 0 {
		sign, pence = "-", -pence
	}
	return fmt.Sprintf("%s%d.%02d", sign, pence/100, pence%100)
}

// penceOf reads pounds written with at most two decimals as pence.
func penceOf(t *testing.T, s string) int64 {
	t.Helper()
	pounds, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	n, err := strconv.ParseInt(pounds+frac, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

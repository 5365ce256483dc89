package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestSecondProject is a project of another domain than the cafe's and
// than init's example, made as its team would: init, the example deleted,
// their own pipelines.yaml with two sources (a supplier's delivery notes, a
// file a day, and the suppliers' list, with optional columns), their
// staging migrations written by migrate create, a model joining the two
// with a unit test. Nothing is copied from the cafe. It validates, runs,
// a second run has nothing to do, and the mart holds what the files sum
// to.
func TestSecondProject(t *testing.T) {
	dir := t.TempDir()
	url := pgtest.URL(t)
	mustRun(t, dir, url, "init")
	for _, p := range []string{"data", "models/marts/station_days.sql", "models/marts/station_days.test.yaml", "migrations/00001_trips_staging.sql"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	notes := writeDeliveryNotes(t, dir)
	write(t, dir, "pipelines.yaml", deliveriesYAML)
	for _, src := range []string{"deliveries", "suppliers"} {
		if r := mustRun(t, dir, url, "migrate", "create", "--source", src); !strings.Contains(r.stdout, "_"+src+"_staging.sql") {
			t.Errorf("migrate create --source %s: %s", src, r.stdout)
		}
	}
	migration, _ := filepath.Glob(filepath.Join(dir, "migrations", "*_deliveries_staging.sql"))
	if b, _ := os.ReadFile(migration[0]); !strings.Contains(string(b), `"batch" text`) || strings.Contains(string(b), `"batch" text NOT NULL`) || !strings.Contains(string(b), `"sku" text NOT NULL`) {
		t.Errorf("the optional column batch is not nullable, or the required sku is, in:\n%s", b)
	}
	write(t, dir, "models/marts/supplier_days.sql", supplierDaysSQL)
	write(t, dir, "models/marts/supplier_days.test.yaml", supplierDaysTest)

	if r := mustRun(t, dir, url, "validate"); !strings.Contains(r.stdout, "pipeline stores: 2 sources, 1 models, 2 unit test cases: ok") {
		t.Errorf("validate:\n%s", r.stdout)
	}
	first := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(first.stdout); m == nil || m[1] != strconv.Itoa(len(notes.days)+1) || !strings.Contains(first.stdout, " 0 refused") || !strings.Contains(first.stdout, "0 rejected") {
		t.Fatalf("first run: want %d files loaded, none refused, no row rejected, got:\n%s", len(notes.days)+1, first.stdout)
	}
	pool := connect(t, url)
	got := scalar[string](t, pool, `SELECT string_agg(concat_ws(' ', supplier_name, delivery_date, notes, units, cost, unbatched_lines), E'\n' ORDER BY supplier_name COLLATE "C", delivery_date) FROM marts.supplier_days`)
	if want := notes.supplierDays(); got != want {
		t.Errorf("marts.supplier_days: got\n%s\nwant\n%s", got, want)
	}
	if n := scalar[int64](t, pool, `SELECT count(*) FROM reference.suppliers WHERE phone IS NULL`); n != 1 {
		t.Errorf("suppliers without a phone (NA): %d, want 1", n)
	}
	second := mustRun(t, dir, url, "run")
	if m := filesLine.FindStringSubmatch(second.stdout); m == nil || m[1] != "0" || m[2] != "0" || m[3] != strconv.Itoa(len(notes.days)+1) || !strings.Contains(second.stdout, "models:  0 built") {
		t.Errorf("second run: want nothing loaded or built, got:\n%s", second.stdout)
	}
	if r := mustRun(t, dir, url, "test", "--unit"); strings.Count(r.stdout, "ok   marts.supplier_days") != 2 {
		t.Errorf("test --unit: want both cases ok:\n%s", r.stdout)
	}
	mustRun(t, dir, url, "validate")
}

func write(t *testing.T, dir, rel, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

const deliveriesYAML = `# A chain of stores: what its suppliers deliver, from their delivery notes.
version: 1
pipelines:
  stores:
    description: Suppliers' delivery notes into what each supplier delivered per day.
    models: models
    sources:
      deliveries:
        description: A line per item delivered, a file a day from the goods-in desk.
        path: notes/deliveries_*.csv
        header: true
        time_zone: Europe/Dublin
        max_rejects: 0
        table: staging.deliveries
        file_date: {pattern: 'deliveries_(\d{8})\.csv$', layout: "%Y%m%d"}
        key: {column: line_key, from: [note_no, line_no]}
        columns:
          - {name: note_no}
          - {name: line_no, type: integer}
          - {name: delivered_at, type: timestamp, layouts: ["%d.%m.%Y %H:%M"], date: delivery_date}
          - {name: supplier_code, pattern: '^S\d{3}$'}
          - {name: sku}
          - {name: qty, type: integer}
          - {name: unit_cost, type: numeric, scale: 3}
          - {name: batch, optional: true}
          - {name: signed_by, personal: drop}
      suppliers:
        description: The suppliers' list, one file, sent again when it changes.
        path: ref/suppliers.csv
        header: true
        table: reference.suppliers
        key: {column: supplier_key, from: [supplier_code]}
        columns:
          - {name: supplier_code}
          - {name: supplier_name}
          - {name: phone, null_values: [NA]}
`

const supplierDaysSQL = `-- materialized: table
-- description: What each supplier delivered per day: notes, units, their cost, and lines without a batch number.
-- check: unique(supplier_name, delivery_date)
SELECT s.supplier_name,
       d.delivery_date,
       count(DISTINCT d.note_no)::integer AS notes,
       sum(d.qty)::integer AS units,
       sum(d.qty * d.unit_cost) AS cost,
       count(*) FILTER (WHERE d.batch IS NULL)::integer AS unbatched_lines
FROM staging.deliveries AS d
JOIN reference.suppliers AS s ON s.supplier_code = d.supplier_code
GROUP BY s.supplier_name, d.delivery_date
`

const supplierDaysTest = `cases:
  - name: a supplier's day sums its notes
    given:
      staging.deliveries:
        - {note_no: N1, supplier_code: S001, delivery_date: 2025-03-03, qty: 2, unit_cost: 1.250, batch: B7}
        - {note_no: N1, supplier_code: S001, delivery_date: 2025-03-03, qty: 1, unit_cost: 0.995}
        - {note_no: N2, supplier_code: S001, delivery_date: 2025-03-03, qty: 4, unit_cost: 2.000, batch: B8}
      reference.suppliers:
        - {supplier_code: S001, supplier_name: Kerrygold Dairies}
    expect:
      - {supplier_name: Kerrygold Dairies, delivery_date: 2025-03-03, notes: 2, units: 7, cost: 11.495, unbatched_lines: 1}
  - name: a delivery from an unlisted supplier is not counted
    given:
      staging.deliveries:
        - {note_no: N3, supplier_code: S009, delivery_date: 2025-03-03, qty: 5, unit_cost: 1.000}
      reference.suppliers:
        - {supplier_code: S001, supplier_name: Kerrygold Dairies}
    expect: []
`

// deliveryNotes are the files of TestSecondProject, as their lines were
// made: the mart is summed from these, not from the database.
type deliveryNotes struct {
	days  []string
	lines []noteLine
	names map[string]string // supplier code: name
}

type noteLine struct {
	day, note, supplier string
	qty                 int
	costMills           int64 // unit cost in thousandths
	batch               string
}

// writeDeliveryNotes writes three days of delivery notes and the
// suppliers' list under dir.
func writeDeliveryNotes(t *testing.T, dir string) *deliveryNotes {
	t.Helper()
	dn := &deliveryNotes{days: []string{"2025-03-03", "2025-03-04", "2025-03-05"},
		names: map[string]string{"S001": "Kerrygold Dairies", "S002": "Boyne Valley Bakery, Drogheda", "S003": `"Fresh" Greens Ltd`}}
	write(t, dir, "ref/suppliers.csv", "supplier_code,supplier_name,phone\nS001,Kerrygold Dairies,+353 1 555 0101\n"+
		"S002,\"Boyne Valley Bakery, Drogheda\",+353 41 555 0102\nS003,\"\"\"Fresh\"\" Greens Ltd\",NA\n")
	codes := []string{"S001", "S002", "S003"}
	for d, day := range dn.days {
		var b strings.Builder
		b.WriteString("note_no,line_no,delivered_at,supplier_code,sku,qty,unit_cost,batch,signed_by\n")
		for n := range 4 + d {
			note := fmt.Sprintf("DN%d%02d", d+1, n)
			for l := range 2 + n%3 {
				ln := noteLine{day: day, note: note, supplier: codes[(n+d)%3], qty: 1 + (n*7+l*3+d)%12, costMills: int64(250 + (n*131+l*977+d*53)%4000)}
				if (n+l)%4 != 0 {
					ln.batch = fmt.Sprintf("L%d-%d", d, n*10+l)
				}
				dn.lines = append(dn.lines, ln)
				fmt.Fprintf(&b, "%s,%d,%s.%s.%s %02d:%02d,%s,SKU-%d,%d,%s,%s,Goods-in clerk %d\n", note, l+1, day[8:], day[5:7], day[:4], 6+n, 5*l,
					ln.supplier, 100+l, ln.qty, strings.TrimRight(strings.TrimRight(fmt.Sprintf("%d.%03d", ln.costMills/1000, ln.costMills%1000), "0"), "."), ln.batch, n)
			}
		}
		write(t, dir, "notes/deliveries_"+strings.ReplaceAll(day, "-", "")+".csv", b.String())
	}
	return dn
}

// supplierDays sums the lines as marts.supplier_days should, a line per
// supplier and day: name, day, notes, units, cost, lines without a batch.
func (dn *deliveryNotes) supplierDays() string {
	type key struct{ name, day string }
	type sums struct {
		notes     map[string]bool
		units     int
		mills     int64
		unbatched int
	}
	by := map[key]*sums{}
	for _, l := range dn.lines {
		k := key{dn.names[l.supplier], l.day}
		s := by[k]
		if s == nil {
			s = &sums{notes: map[string]bool{}}
			by[k] = s
		}
		s.notes[l.note] = true
		s.units += l.qty
		s.mills += int64(l.qty) * l.costMills
		if l.batch == "" {
			s.unbatched++
		}
	}
	var out []string
	for k, s := range by {
		out = append(out, fmt.Sprintf("%s %s %d %d %d.%03d %d", k.name, k.day, len(s.notes), s.units, s.mills/1000, s.mills%1000, s.unbatched))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

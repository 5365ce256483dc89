package loaders

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/config"
)

// TestHeaderCorpus loads each header line of testdata/headers/cases.txt
// above its source's rows: as real exporters write them they load, and the
// lines of other layouts are refused, saying what the case says. The rows
// are the same under every header of a source: the first to load is
// loaded, and every later one must be told a redelivery of it, which only
// rows read into the same columns (the same keys) are.
func TestHeaderCorpus(t *testing.T) {
	pool := warehouse(t)
	pl := cafe(t)
	dir := t.TempDir()
	text, err := os.ReadFile("testdata/headers/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	loaded := map[string]bool{} // by source
	for i, line := range strings.Split(string(text), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) < 3 {
			t.Fatalf("cases.txt:%d: want want | source | header [| text]...", i+1)
		}
		want, source, header, says := parts[0], parts[1], strings.TrimSpace(parts[2]), parts[3:]
		src := pl.Sources[source]
		if src == nil {
			t.Fatalf("cases.txt:%d: no source %s", i+1, source)
		}
		n++
		t.Run(fmt.Sprintf("%d %s", i+1, header), func(t *testing.T) {
			rows, err := os.ReadFile(filepath.Join("testdata/headers", source+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			data := len(strings.Split(strings.TrimSpace(string(rows)), "\n"))
			path := write(t, dir, fmt.Sprintf("case%d.csv", i+1), header+"\n"+string(rows))
			r := load(t, pool, src, path)[0]
			switch want {
			case "load":
				if loaded[source] {
					if r.Status != Skipped || !r.Redelivered {
						t.Errorf("got %s, %d rows loaded, %d rejected (%v), want a redelivery of the first case's rows", r.Status, r.Loaded, r.Rejected, r.Err)
					}
					break
				}
				if r.Status != Loaded || r.Loaded != int64(data) || r.Rejected != 0 {
					t.Errorf("got %s, %d rows loaded, %d rejected (%v), want loaded, %d rows", r.Status, r.Loaded, r.Rejected, r.Err, data)
				}
				loaded[source] = true
			case "refuse":
				if r.Status != Refused {
					t.Fatalf("got %s, want refused", r.Status)
				}
				for _, s := range says {
					if !strings.Contains(r.Err.Error(), s) {
						t.Errorf("got %q, want it to say %q", r.Err, s)
					}
				}
			default:
				t.Fatalf("cases.txt:%d: want %q: want load or refuse", i+1, want)
			}
		})
	}
	if n < 20 {
		t.Errorf("%d cases, want the corpus", n)
	}
}

// TestHeaderMatch: which column a field names, with a contract whose
// columns share a name.
func TestHeaderMatch(t *testing.T) {
	cols := []*config.Column{
		{Name: "gross", Header: []string{"gross", "value"}},
		{Name: "fee", Header: []string{"fee", "value"}},
		{Name: "paid_at"},
	}
	tests := []struct {
		fields []string
		want   []int // the column each field names, -1 none
	}{
		{[]string{"Gross", "Fee", "Paid At"}, []int{0, 1, 2}},
		{[]string{"GROSS_VALUE", "fee-value", "paidAt"}, []int{0, 1, 2}},
		// "value" is a name of two columns: it names neither.
		{[]string{"Net Value", "Fee", "When"}, []int{-1, 1, -1}},
		{[]string{"Value", "Value", "Date"}, []int{-1, -1, -1}},
		// "gross" in two fields tells nothing.
		{[]string{"Gross Amount", "Gross Fee", "Paid At"}, []int{-1, 1, 2}},
		{[]string{"Fee", "Gross", "Paid At"}, []int{1, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.fields, ","), func(t *testing.T) {
			m := newHeaderMatch(cols, tt.fields)
			for f := range tt.fields {
				got := -1
				for c := range cols {
					if m.names(f, c) {
						got = c
					}
				}
				if got != tt.want[f] {
					t.Errorf("field %q: got column %d, want %d", tt.fields[f], got, tt.want[f])
				}
			}
		})
	}
}

func TestWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Due Date/Time", "due date time"},
		{"NetAmount", "net amount"},
		{"REF_NUMBER", "ref number"},
		{"Ref No.", "ref no"},
		{"Net Amount (£)", "net amount"},
		{"  net_or-gross ", "net or gross"},
		{"Größe", "größe"},
	}
	for _, tt := range tests {
		if got := strings.Join(words(tt.in), " "); got != tt.want {
			t.Errorf("words(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

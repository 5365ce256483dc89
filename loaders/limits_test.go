package loaders

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/config"
)

// TestLineLimit: a line longer than the reader's max is a *tooLongError
// at its own line number, whatever its length against the read buffer,
// and the lines after it read as usual.
func TestLineLimit(t *testing.T) {
	tests := []struct {
		name, long string
		max        int
		wantLong   bool
	}{
		{"at the limit", strings.Repeat("a", 100), 100, false},
		{"one byte over", strings.Repeat("a", 101), 100, true},
		{"CRLF not counted", strings.Repeat("a", 100) + "\r", 100, false},
		{"past the read buffer", strings.Repeat("a", 300_000), 200_000, true},
		{"past the read buffer, under the limit", strings.Repeat("a", 300_000), 400_000, false},
		// What follows is read afresh from the next line: here a lone
		// quote, opening a record that never closes.
		{"a quoted record over lines", `"` + strings.Repeat("a\n", 60) + `"`, 100, true},
		// The rest of a field too long is never read as records: here a
		// name and a fake row inside the field.
		{"a quoted field past the limit", `1,"` + strings.Repeat("x", 60) + "\n" + strings.Repeat("x", 60) + "\nJane Doe,EVIL\n" + `tail",3`, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "x,1\n" + tt.long + "\ny,2\n"
			r := newCSVReader(strings.NewReader(in), tt.max)
			defer r.release()
			var got []string
			sawLong := false
			for {
				fields, line, err := r.Read()
				if err == io.EOF {
					break
				}
				var long *tooLongError
				if errors.As(err, &long) {
					sawLong = true
					if line != 2 {
						t.Errorf("too long at line %d, want 2", line)
					}
					continue
				}
				var se *syntaxError
				if errors.As(err, &se) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, strings.Join(fields, "|"))
			}
			if sawLong != tt.wantLong {
				t.Errorf("too long: got %v, want %v", sawLong, tt.wantLong)
			}
			if got[0] != "x|1" || (!strings.HasPrefix(tt.long, `"`) && got[len(got)-1] != "y|2") {
				t.Errorf("records: got %.80q, want x|1 first and y|2 last", got)
			}
			for _, rec := range got {
				if strings.Contains(rec, "Jane Doe") || strings.Contains(rec, "tail") {
					t.Errorf("records: got %.80q: the rest of a field too long read as a record", got)
				}
			}
		})
	}
}

// TestFieldLimit: a field longer than max_field_bytes rejects its row,
// naming the column and the limit, not the value.
func TestFieldLimit(t *testing.T) {
	src := testSource(t, "max_field_bytes: 20\n        max_line_bytes: 100")
	c, err := newContract(src, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	_, rerr := c.parse([]string{"01/03/2022 09:00", "abcdefghijklmnopqrstu"})
	if rerr == nil || rerr.col != 2 || rerr.reason != "is longer than max_field_bytes (20 bytes)" {
		t.Errorf("got %v, want column 2 longer than max_field_bytes (20 bytes)", rerr)
	}
	if _, rerr := c.parse([]string{"01/03/2022 09:00", "abcdefghijklmnopqrst"}); rerr != nil {
		t.Errorf("a field at the limit: got %v, want no error", rerr)
	}
}

// testSource is a source of a timestamp and a text column, with extra
// source keys added.
func testSource(t *testing.T, extra string) *config.Source {
	t.Helper()
	f, err := config.Parse("pipelines.yaml", []byte(`version: 1
pipelines:
  p:
    models: models
    sources:
      tx:
        path: in/*.csv
        table: staging.tx
        `+extra+`
        key: {column: id, from: [at]}
        columns:
          - name: at
            type: timestamp
            layouts: ["%d/%m/%Y %H:%M"]
          - name: shop
`))
	if err != nil {
		t.Fatal(err)
	}
	return f.Pipelines["p"].Sources["tx"]
}

// TestMaskUnruledText: a rejected row's text field that no rule holds to a
// shape is masked, whichever field broke its rule: in a file of swapped
// columns it may hold a name that no personal field of the row equals.
func TestMaskUnruledText(t *testing.T) {
	c, err := newContract(testSource(t, ""), []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.mask([]string{"99/99/2022 10:00", "Jane Doe"}, 1), "***,***"; got != want {
		t.Errorf("mask: got %q, want %q", got, want)
	}
}

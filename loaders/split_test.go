package loaders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// splitFile writes a layout-A file for three ranges: a header line, read
// by the first range only, then a row whose quoted
// name runs over lines where the first range should end (after a row with
// a stray quote in an unquoted field, when stray: the quotes' parity is
// then wrong there), the first range's last row again as the second
// range's first, and a bad total at the end, in the third. It returns the
// path, the lines of the repeat's two copies and the bad row's line.
func splitFile(t *testing.T, stray bool) (path string, first, repeat, bad int) {
	t.Helper()
	path = bigFile(t, 3000)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines = lines[:len(lines)-1] // after the last line break
	lines = append([]string{"ordered_at,branch,customer_name,basket,total,payment_method,card_number\n"}, lines...)
	spans := `01/05/2023 08:00,Chesterfield,"Morgan` + strings.Repeat("\nOwens", 40) + `","Regular Espresso - 1.5",1.5,CARD,` + "\n"
	badRow := `01/05/2023 18:00,Chesterfield,Ann Lee,"Regular Latte - 2.15",abc,CASH,` + "\n"
	if stray {
		lines[6] = `01/05/2023 08:00,Chesterfield,Mo "Owens,"Regular Espresso - 1.5",1.5,CASH,` + "\n"
	}
	size := len(spans) + len(badRow)
	for _, l := range lines {
		size += len(l)
	}
	var sb strings.Builder
	i := 0
	for ; sb.Len()+len(spans)/2 < (size+len(lines[i]))/3; i++ {
		sb.WriteString(lines[i])
	}
	first = strings.Count(sb.String(), "\n")
	sb.WriteString(spans)
	sb.WriteString(lines[i-1]) // the repeat
	repeat = strings.Count(sb.String(), "\n")
	for ; i < len(lines); i++ {
		sb.WriteString(lines[i])
	}
	bad = strings.Count(sb.String(), "\n") + 1
	sb.WriteString(badRow)
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, first, repeat, bad
}

// TestSplitFile loads a file split in three ranges and whole: staging,
// the manifest and the rejects hold the same, the quoted field over the
// first range's end is split past (or, where the quotes' parity is wrong,
// the split is given up and the file loaded whole), the repeat whose
// copies are in two ranges is flagged, and the bad row in the third range
// is named by its line and column.
func TestSplitFile(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stray      bool
		maxSeen    int // ids kept to tell repeats; 0: maxSeen
		wantRanges int
		wantErr    error
	}{
		{"quoted field over a range's end", false, 0, 3, nil},
		// The parity is wrong from the stray quote on: the first range ends
		// inside the quoted field, and no line break after it looks outside.
		{"stray quote before it", true, 0, 2, errSplit},
		// Past the ids kept, a whole read says NULL (unknown) for the rest of
		// the file, which ranges read side by side cannot tell.
		{"more ids than are kept", false, 1000, 3, errSplit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, first, repeat, bad := splitFile(t, tc.stray)
			var ranges int
			var splitErr error
			whole, want := loadSplit(t, path, false, tc.maxSeen, &ranges, &splitErr)
			if ranges != 0 {
				t.Fatalf("whole load: split in %d ranges, want none", ranges)
			}
			split, got := loadSplit(t, path, true, tc.maxSeen, &ranges, &splitErr)
			if ranges != tc.wantRanges || !errors.Is(splitErr, tc.wantErr) || (tc.wantErr == nil) != (splitErr == nil) {
				t.Errorf("split: %d ranges, error %v; want %d, %v", ranges, splitErr, tc.wantRanges, tc.wantErr)
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s: split load differs from whole:\n got %.600s\nwant %.600s", k, got[k], w)
				}
			}
			if split.Status != Loaded || split.Rows != whole.Rows || split.Loaded != whole.Loaded || split.Items != whole.Items {
				t.Errorf("split: %s %d rows %d loaded %d items, want whole's %s %d %d %d", split.Status, split.Rows, split.Loaded, split.Items, whole.Status, whole.Rows, whole.Loaded, whole.Items)
			}
			if !strings.HasPrefix(got["files"], "1 ") {
				t.Errorf("manifest: got %s, want one entry", got["files"])
			}
			if len(split.Rejects) != 1 || split.Rejects[0].Line != bad || split.Rejects[0].Col != 5 {
				t.Errorf("rejects: got %+v, want line %d column 5", split.Rejects, bad)
			}
			if want := fmt.Sprintf("%d:false %d:true", first, repeat); tc.maxSeen == 0 && got["repeats"] != want {
				t.Errorf("repeated rows (line:repeated): got %s, want %s", got["repeats"], want)
			}
		})
	}
}

// loadSplit loads path into a fresh warehouse, split in three ranges
// (split) or whole, keeping maxSeen ids to tell repeats (0: maxSeen), and
// returns the result and the warehouse's content as text.
func loadSplit(t *testing.T, path string, split bool, maxSeen int, ranges *int, splitErr *error) (Result, map[string]string) {
	t.Helper()
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	opt := Options{Key: testKey, Jobs: 3, SplitFrom: 1}
	if !split {
		opt.SplitFrom = -1
	}
	l, err := New(pool, opt)
	if err != nil {
		t.Fatal(err)
	}
	l.test.split = func(n int, err error) { *ranges, *splitErr = n, err }
	l.test.maxSeen = maxSeen
	// The second range is read before the first, so that the first's
	// copy of the repeated row is seen after the second's.
	second := make(chan struct{})
	var calls int
	if split {
		l.test.stream = func(_ string, r io.Reader) io.Reader {
			calls++
			switch calls {
			case 1:
				return &waitReader{r: r, wait: second}
			case 2:
				return &closeReader{r: r, done: second}
			}
			return r
		}
	}
	res, err := l.Load(context.Background(), 0, src, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tables, err := Staging(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		got[tb.Name] = text(t, pool, `SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '') FROM (SELECT (to_jsonb(t) - 'load_id')::text AS r FROM `+tb.Name+` t) s`)
	}
	got["repeats"] = text(t, pool, `SELECT coalesce(string_agg(source_line || ':' || repeated, ' ' ORDER BY source_line), '') FROM staging.transactions
		WHERE order_id IN (SELECT order_id FROM staging.transactions WHERE repeated IS DISTINCT FROM false)`)
	got["rejects"] = text(t, pool, `SELECT coalesce(string_agg(line || ':' || coalesce(column_name, '') || ':' || reason, E'\n' ORDER BY line), '') FROM percolate.rejects`)
	got["files"] = text(t, pool, `SELECT count(*) || ' ' || string_agg(path || ':' || rows_loaded || ':' || rows_rejected || ':' || coalesce(rows_fingerprint, ''), ';') FROM percolate.files`)
	return res[0], got
}

func text(t *testing.T, pool *pgxpool.Pool, sql string) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// waitReader reads r once wait is closed, or a minute has passed.
type waitReader struct {
	r    io.Reader
	wait chan struct{}
	once sync.Once
}

func (w *waitReader) Read(p []byte) (int, error) {
	w.once.Do(func() {
		select {
		case <-w.wait:
		case <-time.After(time.Minute):
		}
	})
	return w.r.Read(p)
}

// closeReader closes done when r ends.
type closeReader struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (c *closeReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.done) })
	}
	return n, err
}

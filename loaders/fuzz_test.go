package loaders

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/config"
)

func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{"a,b\n", "\"a,b\",c\r\n", "\xef\xbb\xbf x , \"y\"  ,z\n \n", "\"unterminated\n", "a,\"b\"c\n", "\"\"\"\"\n", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newCSVReader(bytes.NewReader(data), config.DefaultMaxLineBytes)
		for i := 0; i < 10000; i++ {
			_, line, err := r.Read()
			if err == io.EOF {
				return
			}
			if line < 0 || line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("line %d out of range", line)
			}
			var se *syntaxError
			if err != nil && !errors.As(err, &se) {
				return // binary input ends the stream
			}
		}
		t.Fatal("the reader does not end")
	})
}

// FuzzCSVRoundTrip: what encoding/csv writes, the reader reads back.
func FuzzCSVRoundTrip(f *testing.F) {
	f.Add("a", "b,c", `say "hi"`)
	f.Add("", "multi\nline", "x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		in := []string{a, b, c}
		for _, s := range in {
			if s != strings.TrimSpace(s) || strings.ContainsAny(s, "\r\x00") || !validUTF8(s) {
				return // padding is trimmed by design; CR and NUL are line-ending and binary cases
			}
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write(in)
		w.Flush()
		if a == "" && b == "" && c == "" {
			return
		}
		got, _, err := newCSVReader(&buf, config.DefaultMaxLineBytes).Read()
		if err != nil {
			t.Fatalf("%q: %v", buf.String(), err)
		}
		if strings.Join(got, "\x1f") != strings.Join(in, "\x1f") {
			t.Fatalf("%q: got %q, want %q", buf.String(), got, in)
		}
	})
}

func FuzzItems(f *testing.F) {
	for _, s := range []string{"Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte - 2.45", "Glass of milk - 0.7",
		",Frappes - Coffee,2.75,Large,Latte,2.45", "Large,Latte", " - - - ", ",,,"} {
		f.Add(s)
	}
	parsers := []*config.Items{
		itemsOf(f, `{table: staging.s_items, separator: ",", format: "{size} {product} - {price}", fields: `+cafeFields+`}`),
		itemsOf(f, `{table: staging.s_items, separator: ",", fields: `+cafeFields+`}`),
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, it := range parsers {
			p, err := newItemParser(it)
			if err != nil {
				t.Fatal(err)
			}
			items, err := p.parse(s, nil)
			if err != nil {
				continue
			}
			for _, i := range items {
				if i.str[1] == "" {
					t.Fatalf("%q: an item without a product got through", s)
				}
				if i.str[0] != "" && i.str[0] != "Regular" && i.str[0] != "Large" {
					t.Fatalf("%q: size %q is not declared", s, i.str[0])
				}
			}
		}
	})
}

const (
	nameSentinel = "Zebulon Quixwright"
	cardSentinel = "4929000011112222"
)

// FuzzNoPersonalData puts a known customer name and card number into rows
// of any other content and checks that neither reaches what the loader
// sends to PostgreSQL (both staging tables) nor its rejects.
func FuzzNoPersonalData(f *testing.F) {
	f.Add("25/08/2021 09:00", "Chesterfield", "Large Latte - 2.45", "2.45", "CARD")
	f.Add("32/08/2021 09:00", "Leeds", "Large Latte", "two", "BITCOIN")
	f.Add("", "", "", "", "")
	f.Add("25/08/2021 09:00", "A \"quoted\" branch", "Regular Latte - 2.1, Large Mocha - 2.6", "4.7", "CASH")
	file, err := config.Load("../pipelines.yaml")
	if err != nil {
		f.Fatal(err)
	}
	src := file.Pipelines["cafe"].Sources["transactions"]
	f.Fuzz(func(t *testing.T, at, branch, basket, total, method string) {
		row := []string{at, branch, nameSentinel, basket, total, method, cardSentinel}
		for _, s := range row[:2] {
			if strings.Contains(s, "Zebulon") || strings.Contains(s, "4929") {
				return
			}
		}
		for _, s := range []string{basket, total, method} {
			if strings.Contains(s, "Zebulon") || strings.Contains(s, "4929") {
				return
			}
		}
		var in bytes.Buffer
		w := csv.NewWriter(&in)
		w.Write(row)
		w.Write(row[:6]) // a row of the wrong length
		w.Flush()
		in.WriteString("\"" + nameSentinel + "\"x," + cardSentinel + "\n") // not CSV at all

		c, err := newContract(src, testKey)
		if err != nil {
			t.Fatal(err)
		}
		fl := newFileLoad(c, &in, 1, "f.csv")
		defer fl.release()
		var out []byte
		for {
			rec, err := fl.next()
			var refused *RefusedError
			if errors.As(err, &refused) {
				out = append(out, refused.Error()...)
				break // a header of another layout refuses the file
			}
			if err == io.EOF || errors.Is(err, ErrNotText) {
				break // binary input refuses the file
			}
			if err != nil {
				t.Fatal(err)
			}
			out = encodeRecord(out, fl.streamed(), rec)
			rec.Release()
		}
		if fl.spool != nil { // the order rows, when an items table streams
			r, err := fl.spool.reader()
			if err != nil {
				t.Fatal(err)
			}
			spooled, _ := io.ReadAll(r)
			out = append(out, spooled...)
		}
		for _, rej := range fl.rejects {
			out = append(out, rej.Raw+rej.Reason...)
		}
		for _, p := range []string{nameSentinel, cardSentinel, "Zebulon", "Quixwright"} {
			if bytes.Contains(out, []byte(p)) {
				t.Fatalf("personal data %q reached the output for row %q", p, row)
			}
		}
	})
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// FuzzLoad drives the whole path: bytes, the loader, a real COPY into a
// UTF-8 database. Whatever the bytes, the file ends as loaded rows plus
// rejects, or as one refused file with its reason: never a load error,
// never a panic, and the staging rows and the manifest agree with what the
// loader says. Seeded from testdata/loader; each input is loaded as both
// layouts. The loader is told the staging columns' precision, as a run is,
// and once not told (the server's refusal is then a refused file too).
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("../testdata/loader/*/input.csv")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	pool := warehouse(f)
	pl := cafe(f)
	dir := f.TempDir()
	precision := map[string]int{}
	for _, t := range []string{"transactions", "legacy_transactions"} {
		precision["staging."+t+".total"] = 10
	}
	told := csvLoader(f, pool, Options{Precision: precision})
	blind := csvLoader(f, pool, Options{})
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		n++
		src, ld := pl.Sources["transactions"], told
		if legacy {
			src = pl.Sources["legacy_transactions"]
		}
		if n%4 == 0 {
			ld = blind
		}
		path := filepath.Join(dir, fmt.Sprintf("f%d.csv", n))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := ld.Load(context.Background(), 0, src, []string{path})
		if err != nil {
			t.Fatalf("%q: the load failed: %v", data, err)
		}
		r := res[0]
		switch r.Status {
		case Loaded:
			staged := count(t, pool, "SELECT count(*) FROM "+src.Table+" WHERE load_id = $1", r.LoadID)
			rejects := count(t, pool, "SELECT count(*) FROM percolate.rejects WHERE load_id = $1", r.LoadID)
			if int64(staged) != r.Loaded || int64(rejects) != r.Rejected {
				t.Fatalf("%q: %d rows staged and %d rejects, the loader says %d and %d", data, staged, rejects, r.Loaded, r.Rejected)
			}
		case Refused:
			if r.Err == nil {
				t.Fatalf("%q: refused without a reason", data)
			}
			if n := count(t, pool, "SELECT count(*) FROM percolate.files WHERE path = $1 AND status = 'refused'", r.Path); n != 1 {
				t.Fatalf("%q: refused, and recorded %d times", data, n)
			}
		case Skipped, RefusedEarlier: // the same content came before
		default:
			t.Fatalf("%q: %s (%v)", data, r.Status, r.Err)
		}
	})
}

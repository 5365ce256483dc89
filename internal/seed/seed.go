// Package seed reads a project's seeds, seeds/<schema>/<name>.csv: small
// tables the team keeps beside its models (a list of sites and their
// regions, a category of each item), held to an optional contract in pipelines.yaml and
// loaded as the table <schema>.<name> when their content changes. A seed
// is the team's own file: a row that breaks its contract is an error
// naming the file, line and column, never a reject.
package seed

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/percolate/percolate/internal/config"
)

// Dir is the folder of a project's seeds.
const Dir = "seeds"

// Seed is one seed file, read and checked.
type Seed struct {
	Name, Schema, Rel string
	Path              string // seeds/<schema>/<name>.csv
	Description       string
	Columns           []Column
	Key               []string
	// Hash fingerprints the file's content and its contract: the seed is
	// loaded again when it changes, and so are the models reading it.
	Hash string
	// Rows are the values of each row by column, "" read as NULL.
	Rows [][]string
}

// Column is a seed's column and its SQL type.
type Column struct {
	Name, Type string
}

// Error is a seed file's problem at a line and column (0: not known).
type Error struct {
	Path         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

var ident = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Discover reads every seeds/<schema>/<name>.csv of fsys, held to its
// contract in contracts (by relation name). A contract without its file
// is an error at the contract's line in file (pipelines.yaml).
func Discover(fsys fs.FS, contracts map[string]*config.Seed, file string) ([]*Seed, error) {
	var out []*Seed
	err := fs.WalkDir(fsys, Dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == Dir {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".csv") {
			return nil
		}
		schema, rest, _ := strings.Cut(strings.TrimPrefix(p, Dir+"/"), "/")
		rel := strings.TrimSuffix(rest, ".csv")
		if !ident.MatchString(schema) || !ident.MatchString(rel) {
			return &Error{Path: p, Msg: "a seed lives at seeds/<schema>/<name>.csv, both lower-case identifiers"}
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		s, err := Parse(p, schema+"."+rel, b, contracts[schema+"."+rel])
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for name, c := range contracts {
		if !slices.ContainsFunc(out, func(s *Seed) bool { return s.Name == name }) {
			return nil, &config.Error{File: file, Line: c.Line, Msg: fmt.Sprintf("seed %s: no file %s/%s.csv", name, Dir, strings.Replace(name, ".", "/", 1))}
		}
	}
	return out, nil
}

// Parse reads the seed name from its file's bytes b, found at p, and
// checks every row against contract (nil: every column text, no key).
func Parse(p, name string, b []byte, contract *config.Seed) (*Seed, error) {
	schema, rel, _ := strings.Cut(name, ".")
	s := &Seed{Name: name, Schema: schema, Rel: rel, Path: p}
	r := csv.NewReader(bytes.NewReader(b))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return nil, csvError(p, err)
	}
	types := map[string]string{}
	if contract != nil {
		types, s.Key, s.Description = contract.Columns, contract.Key, contract.Description
	}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !ident.MatchString(h) || slices.ContainsFunc(s.Columns, func(c Column) bool { return c.Name == h }) {
			return nil, &Error{Path: p, Line: 1, Column: i + 1, Msg: fmt.Sprintf("header: %q is not a lower-case column name, or is named twice", h)}
		}
		t := types[h]
		if t == "" {
			t = "text"
		}
		s.Columns = append(s.Columns, Column{Name: h, Type: t})
	}
	if contract != nil {
		for _, c := range append(sortedKeys(types), s.Key...) {
			if !slices.ContainsFunc(s.Columns, func(col Column) bool { return col.Name == c }) {
				return nil, &Error{Path: p, Line: 1, Msg: fmt.Sprintf("header: no column %s, which pipelines.yaml:%d declares", c, contract.Line)}
			}
		}
	}
	if err := s.readRows(r); err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, c := range s.Columns {
		fmt.Fprintf(h, "%s %s\x00", c.Name, c.Type)
	}
	fmt.Fprintf(h, "key %v\x00", s.Key)
	h.Write(b)
	s.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return s, nil
}

// readRows reads and checks the rows after the header.
func (s *Seed) readRows(r *csv.Reader) error {
	keys := map[string]int{} // a key's value → its line
	var keyCols []int
	for _, k := range s.Key {
		keyCols = append(keyCols, slices.IndexFunc(s.Columns, func(c Column) bool { return c.Name == k }))
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(s.Path, err)
		}
		line, _ := r.FieldPos(0)
		for i, v := range rec {
			if err := check(s.Columns[i].Type, v); err != nil {
				_, col := r.FieldPos(i)
				return &Error{Path: s.Path, Line: line, Column: col, Msg: fmt.Sprintf("column %s: %q is not %s", s.Columns[i].Name, v, err)}
			}
		}
		var key []string
		for _, i := range keyCols {
			if rec[i] == "" {
				_, col := r.FieldPos(i)
				return &Error{Path: s.Path, Line: line, Column: col, Msg: fmt.Sprintf("key column %s is empty", s.Columns[i].Name)}
			}
			key = append(key, rec[i])
		}
		if keyCols != nil {
			k := strings.Join(key, "\x00")
			if first, ok := keys[k]; ok {
				return &Error{Path: s.Path, Line: line, Msg: fmt.Sprintf("key (%s) = (%s) is on line %d too", strings.Join(s.Key, ", "), strings.Join(key, ", "), first)}
			}
			keys[k] = line
		}
		s.Rows = append(s.Rows, rec)
	}
}

// csvError places a CSV reader's error at its line and column.
func csvError(p string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{Path: p, Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
	}
	if err == io.EOF {
		return &Error{Path: p, Line: 1, Msg: "no header line: a seed's first line names its columns"}
	}
	return &Error{Path: p, Msg: err.Error()}
}

var numeric = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)$`)

// check says what v is not, for a column of type t; nil when it fits.
// An empty field is NULL, which fits any type.
func check(t, v string) error {
	if v == "" {
		return nil
	}
	var err error
	switch {
	case t == "integer":
		_, err = strconv.ParseInt(v, 10, 32)
	case t == "bigint":
		_, err = strconv.ParseInt(v, 10, 64)
	case strings.HasPrefix(t, "numeric"):
		if !numeric.MatchString(v) {
			err = errors.New("bad")
		}
	case t == "date":
		_, err = time.Parse(time.DateOnly, v)
	case t == "timestamp" || t == "timestamptz":
		if _, err = time.Parse("2006-01-02 15:04:05", v); err != nil {
			_, err = time.Parse(time.RFC3339, v)
		}
	case t == "boolean":
		_, err = strconv.ParseBool(v)
	}
	if err != nil {
		return fmt.Errorf("%s %s", article(t), layout(t))
	}
	return nil
}

func article(t string) string {
	if strings.HasPrefix(t, "integer") {
		return "an"
	}
	return "a"
}

// layout is how a value of type t is written, for an error.
func layout(t string) string {
	switch {
	case t == "date":
		return "date (YYYY-MM-DD)"
	case t == "timestamp" || t == "timestamptz":
		return t + " (YYYY-MM-DD HH:MM:SS)"
	case t == "boolean":
		return "boolean (true or false)"
	}
	return t
}

// Table is the seed's relation as a qualified name's parts.
func (s *Seed) Table() (schema, rel string) { return s.Schema, s.Rel }

// ColumnNames lists the seed's columns, in file order.
func (s *Seed) ColumnNames() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = c.Name
	}
	return out
}

// Hashes maps each seed's relation to its content hash.
func Hashes(seeds []*Seed) map[string]string {
	out := map[string]string{}
	for _, s := range seeds {
		out[s.Name] = s.Hash
	}
	return out
}

// Find returns the seed named, or nil.
func Find(seeds []*Seed, name string) *Seed {
	for _, s := range seeds {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

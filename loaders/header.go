package loaders

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/percolate/percolate/internal/config"
)

// wrongHeader says how a header line differs from the names the contract's
// columns may have there (their name and header lists), or "" when it does
// not, or no column lists names. Names are compared as people write them
// (see headerMatch); each column the header does not name is said, with
// the line that would make it (unless it names another column: a file of
// another layout).
func (c *contract) wrongHeader(fields []string) string {
	cols := c.src.Columns
	declared := slices.ContainsFunc(cols, func(col *config.Column) bool { return len(col.Header) > 0 })
	// A line of another field count, or of values that are not names,
	// is no header of another layout: its rows will tell.
	if !declared || len(fields) != len(cols) || slices.ContainsFunc(fields, func(f string) bool { return !isName(f) }) {
		return ""
	}
	m := newHeaderMatch(cols, fields)
	var faults []string
	layout := false
	for i, col := range cols {
		// A personal column is not shown: the line may be data.
		if len(col.Header) == 0 || col.Personal != "" || m.names(i, i) {
			continue
		}
		field := strconv.Quote(strings.ToValidUTF8(fields[i], "\uFFFD"))
		if o := m.namesOther(i); o >= 0 {
			layout = true
			faults = append(faults, fmt.Sprintf("column %d %s, where the contract has %s (a name of %s)", i+1, field, col.Name, cols[o].Name))
			continue
		}
		names := append(slices.Clone(col.Header), strings.TrimSpace(strings.ToValidUTF8(fields[i], "\uFFFD")))
		for k, n := range names {
			names[k] = yamlItem(n)
		}
		faults = append(faults, fmt.Sprintf("column %d %s, where the contract has %s (if it is %s, put under %s in pipelines.yaml: header: [%s])",
			i+1, field, col.Name, col.Name, col.Name, strings.Join(names, ", ")))
	}
	if len(faults) == 0 {
		return ""
	}
	reason := "its header names " + strings.Join(faults, ", and ")
	if layout {
		reason = fmt.Sprintf("not a %s file: %s", c.src.Name, reason)
	}
	return reason
}

// headerMatch tells which contract columns the fields of a header line
// name. Case, spaces, '_' and punctuation never matter: a name is compared
// as its words (see words) run together. A field names a column when its
// words are one of the column's names, or when a run of them is one that
// is no other column's name and no other field of the line holds (a word
// that is ambiguous in this header tells nothing).
type headerMatch struct {
	cols  []map[string]bool // each column's names, as compared
	whole []string          // each field, as compared
	runs  []map[string]bool // each field's runs of words, as compared
	held  map[string]int    // in how many fields each run is
}

func newHeaderMatch(cols []*config.Column, fields []string) *headerMatch {
	m := &headerMatch{held: map[string]int{}}
	for _, col := range cols {
		names := map[string]bool{strings.Join(words(col.Name), ""): true}
		for _, h := range col.Header {
			names[strings.Join(words(h), "")] = true
		}
		m.cols = append(m.cols, names)
	}
	for _, f := range fields {
		w := words(f)
		runs := map[string]bool{}
		for i := range w {
			for j := i + 1; j <= len(w); j++ {
				runs[strings.Join(w[i:j], "")] = true
			}
		}
		for r := range runs {
			m.held[r]++
		}
		m.whole = append(m.whole, strings.Join(w, ""))
		m.runs = append(m.runs, runs)
	}
	return m
}

// owners counts the columns that have name among their names.
func (m *headerMatch) owners(name string) int {
	n := 0
	for _, names := range m.cols {
		if names[name] {
			n++
		}
	}
	return n
}

// names reports whether field f names column c.
func (m *headerMatch) names(f, c int) bool {
	if w := m.whole[f]; m.cols[c][w] {
		return m.owners(w) == 1
	}
	for r := range m.runs[f] {
		if m.cols[c][r] && m.owners(r) == 1 && m.held[r] == 1 {
			return true
		}
	}
	return false
}

// namesOther returns the column other than its own that field f names, or
// -1.
func (m *headerMatch) namesOther(f int) int {
	for c := range m.cols {
		if c != f && m.names(f, c) {
			return c
		}
	}
	return -1
}

// words splits a name into its words, lower case: runs of letters and
// digits, parted by anything else and where a lower-case letter meets an
// upper-case one ("NetAmount").
func words(s string) []string {
	var out []string
	var w []rune
	prev := rune(0)
	for _, r := range s {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		if !alnum || unicode.IsLower(prev) && unicode.IsUpper(r) {
			if len(w) > 0 {
				out = append(out, string(w))
				w = w[:0]
			}
		}
		if alnum {
			w = append(w, unicode.ToLower(r))
		}
		prev = r
	}
	if len(w) > 0 {
		out = append(out, string(w))
	}
	return out
}

// isName reports whether a field reads as a column name: it has a letter.
// ("Ref No.", "Date/Time" and "Amount (£)" are names; a time or an
// amount is not.)
func isName(f string) bool {
	return strings.ContainsFunc(f, unicode.IsLetter)
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// yamlItem writes s as an item of a YAML flow list: as it is when it is a
// plain word, else quoted.
func yamlItem(s string) string {
	if plainYAML.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

package loaders

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/percolate/percolate/internal/config"
)

// masked stands where a value was that must not leave the loader.
const masked = "***"

// email is anything that looks like an e-mail address.
var email = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// scrub is the one door through which text about a file's contents leaves
// the loader (a reject's reason and row, a refusal's reason): whatever a
// misplaced column put where, no personal value goes through it. It masks
// every occurrence of personal (the values of the row's personal fields,
// wherever they turn up: a swapped file has them in other columns),
// anything that looks like a card number or an e-mail address, and cuts
// what is left to limit bytes.
func scrub(s string, personal []string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for _, p := range personal {
		// A value of a letter or two would mask every word; a whole
		// field of it is masked by maskRow.
		if len(strings.TrimSpace(p)) >= 3 {
			s = strings.ReplaceAll(s, p, masked)
		}
	}
	// Patterns are matched on a bounded text: the margin keeps a card
	// number cut by the first cut from showing after the second.
	s = cut(s, limit+64)
	s = maskCards(s)
	s = email.ReplaceAllString(s, masked)
	return cut(s, limit)
}

// cut shortens s to at most limit bytes, on a character boundary, saying
// how much it left out.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := max(limit-32, 0) // room for the note
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + fmt.Sprintf(" …(%d bytes more)", len(s)-n)
}

// maskCards masks every number of 13 to 19 digits that passes the Luhn
// check, as card numbers do, written whole or in groups parted by a space
// or a dash.
func maskCards(s string) string {
	var b strings.Builder
	last := 0 // s[:last] is written
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		// A run of groups of digits, a single separator between them.
		var groups [][2]int
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, [2]int{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) {
				j = k + 1
				continue
			}
			j = k
			break
		}
		for a := 0; a < len(groups); {
			n := cardAt(s, groups[a:])
			if n == 0 {
				a++
				continue
			}
			b.WriteString(s[last:groups[a][0]])
			b.WriteString(masked)
			last = groups[a+n-1][1]
			a += n
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// cardAt returns how many of the groups, as many as make 19 digits down
// to those that make 13, hold a number that passes the Luhn check; 0 when
// none do.
func cardAt(s string, groups [][2]int) int {
	digits := 0
	n := 0
	for n < len(groups) && digits+groups[n][1]-groups[n][0] <= 19 {
		digits += groups[n][1] - groups[n][0]
		n++
	}
	for ; n > 0 && digits >= 13; n-- {
		if luhn(s, groups[:n]) {
			return n
		}
		digits -= groups[n-1][1] - groups[n-1][0]
	}
	return 0
}

// luhn reports whether the digits of the groups pass the Luhn check.
func luhn(s string, groups [][2]int) bool {
	sum, k := 0, 0
	for g := len(groups) - 1; g >= 0; g-- {
		for p := groups[g][1] - 1; p >= groups[g][0]; p-- {
			d := int(s[p] - '0')
			if k%2 == 1 {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
			k++
		}
	}
	return sum%10 == 0
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// personal returns the values of a row's personal fields; nil when the
// row does not have the contract's fields, and none can be told.
func (c *contract) personal(fields []string) []string {
	if len(fields) != len(c.src.Columns) {
		return nil
	}
	var p []string
	for i, col := range c.src.Columns {
		if col.Personal != "" && fields[i] != "" {
			p = append(p, fields[i])
		}
	}
	return p
}

// mask rebuilds a rejected row as CSV for the rejects table, masking what
// cannot be shown: personal fields; the field that broke its rule (bad,
// 1-based; in a file of swapped columns it may be another column's
// personal data); any field equal to a personal field of the row; any text
// field that no rule holds to a shape (no values, pattern or file_name: in
// a file whose columns are swapped it may hold a name, which no value of
// the row's own personal fields would find); and, when the field count is
// off, every field, since none can be trusted to be what the contract
// says. scrub (see reject) masks the rest.
func (c *contract) mask(fields []string, bad int) string {
	var b strings.Builder
	wrong := len(fields) != len(c.src.Columns)
	personal := c.personal(fields)
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if wrong || c.src.Columns[i].Personal != "" || i+1 == bad || slices.Contains(personal, f) || unruled(c.src.Columns[i]) {
			b.WriteString(masked)
			continue
		}
		if strings.ContainsAny(f, ",\"\n") {
			b.WriteString(`"` + strings.ReplaceAll(f, `"`, `""`) + `"`)
		} else {
			b.WriteString(f)
		}
	}
	return b.String()
}

// unruled says a column is text that no rule holds to a shape: what it
// holds cannot be told from a name.
func unruled(col *config.Column) bool {
	return col.Type == config.Text && len(col.Values) == 0 && col.Re == nil && col.FileNameRe == nil
}

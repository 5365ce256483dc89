package cli

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/rivo/uniseg"
	"golang.org/x/term"
)

// fit shortens a line to the terminal's width: the last " · " part (a file
// or model name) from its middle first, then the line from its end.
func (d *display) fit(s string) string {
	if d.mode != live {
		return s
	}
	w := d.width() - 1 // the last column would wrap on some terminals
	if columns(s) <= w {
		return s
	}
	if i := strings.LastIndex(s, " · "); i >= 0 {
		head, name := s[:i+len(" · ")], s[i+len(" · "):]
		if room := w - columns(head); room >= 12 {
			return head + middle(name, room)
		}
		s = s[:i]
	}
	return cut(s, w)
}

// wrap breaks the lines of text longer than width at spaces, the rest of
// a line indented under its start: a summary that fits the terminal. A
// width of 0 leaves text as it is.
func wrap(text string, width int) string {
	if width <= 0 {
		return text
	}
	width-- // the last column would wrap on some terminals
	var b strings.Builder
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		indent := strings.Repeat(" ", len(line)-len(strings.TrimLeft(line, " "))+4)
		for uniseg.StringWidth(line) > width {
			r := []rune(line)
			at := width
			for at > len(indent)+8 && r[at] != ' ' {
				at--
			}
			if r[at] != ' ' {
				at = width // one long word: broken where it must
			}
			b.WriteString(strings.TrimRight(string(r[:at]), " ") + "\n")
			line = indent + strings.TrimLeft(string(r[at:]), " ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// termWidth is the width of w when it is a terminal (COLUMNS first), else 0.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
		return n
	}
	return 80
}

// middle shortens s to width columns by taking out its middle.
func middle(s string, width int) string {
	if uniseg.StringWidth(s) <= width {
		return s
	}
	r := []rune(s)
	keep := width - 1
	tail := keep / 2
	head := keep - tail
	for uniseg.StringWidth(string(r[:head]))+uniseg.StringWidth(string(r[len(r)-tail:])) > keep && head > 0 {
		head--
	}
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// sgr matches the colour codes paint writes, which take no column.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// columns is how many columns s takes on a terminal.
func columns(s string) int { return uniseg.StringWidth(sgr.ReplaceAllString(s, "")) }

// cut shortens s to width columns from its end.
func cut(s string, width int) string {
	r := []rune(s)
	for len(r) > 0 && columns(string(r))+1 > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// bar is a progress bar of n of total, narrower on narrow terminals, and
// followed by a space; none in a log.
func (d *display) bar(n, total int) string {
	if d.mode != live {
		return ""
	}
	w := 20
	if d.width() < 100 {
		w = 10
	}
	full := 0
	if total > 0 {
		full = min(w, w*n/total)
	}
	return "[" + d.paint("32", strings.Repeat("=", full)) + strings.Repeat(" ", w-full) + "] "
}

// paint colours s with an SGR code when colour is on.
func (d *display) paint(code, s string) string {
	if !d.color || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func rowsText(n int64) string {
	if n < 0 {
		return "(view)"
	}
	return thousands(n) + " rows"
}

// thousands writes n with thin separators: 1,088,559.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

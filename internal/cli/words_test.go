package cli

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// cafeWords are the cafe's words: the first project's, not the
// framework's.
var cafeWords = regexp.MustCompile(`(?i)\b(branch(es)?|baskets?|caf[eé]s?|tills?|products?|orders|order_id)\b`)

// cafeCommands write and time the cafe's own data (a demo and the
// benchmarks): their help may speak of it.
var cafeCommands = map[string]bool{"percolate generate": true, "percolate bench": true}

// TestHelpSpeaksNoCafe: the help of every command a project uses speaks
// of sources, columns and groups, not of the cafe's branches and orders.
func TestHelpSpeaksNoCafe(t *testing.T) {
	root := (&app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}).root()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if cafeCommands[c.CommandPath()] {
			return
		}
		text := []string{c.Short, c.Long, c.Example}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { text = append(text, f.Usage) })
		for _, s := range text {
			for _, line := range strings.Split(s, "\n") {
				if w := cafeWords.FindString(line); w != "" {
					t.Errorf("%s: its help says %q: %s", c.CommandPath(), w, strings.TrimSpace(line))
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

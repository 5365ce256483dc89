package staging

import (
	"fmt"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/loaders"
)

// Compare checks that the tables a source's loads write are in have as the
// contract fills them: every column there, of its type, nullable where the
// loader may leave it NULL, and no other column that needs a value. The
// first difference is a *config.Error at the line of pipelines.yaml (file)
// that makes the column, naming the table's column and where it is made.
func Compare(file string, src *config.Source, have *Schema) error {
	want, err := loaders.Staging(src)
	if err != nil {
		return err
	}
	fail := func(line int, format string, args ...any) error {
		return &config.Error{File: file, Line: line, Msg: fmt.Sprintf("source %s: ", src.Name) + fmt.Sprintf(format, args...)}
	}
	for _, wt := range want {
		t := have.Tables[wt.Name]
		if t == nil {
			return fail(wt.Line, "no table %s in %s to load into: write its migration with 'percolate migrate create --source %s'", wt.Name, have.From, src.Name)
		}
		for _, wc := range wt.Columns {
			c := t.Column(wc.Name)
			switch {
			case c == nil:
				return fail(wc.Line, "%s in %s has no column %s%s, which the contract fills", wt.Name, have.From, wc.Name, at(t.Where))
			case c.Type != wc.Type:
				return fail(wc.Line, "%s.%s is %s%s, but the contract fills it with %s", wt.Name, wc.Name, c.Decl, at(c.Where), wc.SQL)
			case c.Type == "numeric" && c.Scale >= 0 && c.Scale != wc.Scale:
				return fail(wc.Line, "%s.%s is %s%s, but the contract fills it with %d decimals", wt.Name, wc.Name, c.Decl, at(c.Where), wc.Scale)
			case c.NotNull && wc.Nullable:
				return fail(wc.Line, "%s.%s is NOT NULL%s, but the contract may leave it empty", wt.Name, wc.Name, at(c.Where))
			}
		}
		for _, c := range t.Columns {
			if !c.NotNull || c.Default || hasColumn(wt, c.Name) {
				continue
			}
			why := "misspelt?"
			if c.Name == "source_file" {
				why = "the loader no longer writes the file's path on each row (its load_id finds it in percolate.files)"
			}
			return fail(wt.Line, "%s.%s%s is NOT NULL with no default, but the contract fills no column of that name (%s): 'percolate migrate create --source %s' writes a migration that lets it be NULL",
				wt.Name, c.Name, at(c.Where), why, src.Name)
		}
	}
	return nil
}

func hasColumn(t loaders.Table, name string) bool {
	for _, c := range t.Columns {
		if c.Name == name {
			return true
		}
	}
	return false
}

package staging

import (
	"errors"
	"fmt"
	"strings"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/loaders"
)

// ErrUpToDate is returned by Migration when the tables already are as the
// contract fills them.
var ErrUpToDate = errors.New("the migrations already make the source's tables as its contract fills them")

// Migration writes the goose migration (up and down) that brings a
// source's staging tables from what have makes to what its contract
// fills: tables it lacks are created, with a BRIN index on the day (or on
// load_id when there is no day): loads are appended in order, so it stays
// small, and a replaced file's rows are found through their days; and with
// no autovacuum pass for inserts alone, since builds analyze what they
// read; columns
// a table lacks are added, columns of another type retyped, and NOT NULL
// columns the contract does not fill let be NULL.
func Migration(src *config.Source, have *Schema) (up, down string, err error) {
	want, err := loaders.Staging(src)
	if err != nil {
		return "", "", err
	}
	var u, d strings.Builder
	var drops []string // the tables made, last first
	for _, wt := range want {
		name := pg.Ident(strings.Split(wt.Name, ".")...)
		t := have.Tables[wt.Name]
		if t == nil {
			fmt.Fprintf(&u, "-- %s, as the contract of source %s fills it.\nCREATE TABLE %s (\n", wt.Name, src.Name, name)
			for i, c := range wt.Columns {
				null := " NOT NULL"
				if c.Nullable {
					null = ""
				}
				sep := ","
				if i == len(wt.Columns)-1 {
					sep = ""
				}
				fmt.Fprintf(&u, "    %s %s%s%s\n", pg.Ident(c.Name), c.SQL, null, sep)
			}
			// Every build analyzes what changed by a tenth: no autovacuum
			// pass for inserts alone (see migrations/00019).
			u.WriteString(") WITH (autovacuum_vacuum_insert_threshold = -1, autovacuum_analyze_scale_factor = 100);\n")
			_, rel, _ := strings.Cut(wt.Name, ".")
			brin := "load_id"
			for _, c := range wt.Columns {
				if c.Type == "date" {
					brin = c.Name
					break
				}
			}
			fmt.Fprintf(&u, "CREATE INDEX %s ON %s USING brin (%s);\n\n", pg.Ident(rel+"_"+brin+"_brin"), name, pg.Ident(brin))
			drops = append([]string{"DROP TABLE " + name + ";\n"}, drops...)
			continue
		}
		for _, c := range wt.Columns {
			have := t.Column(c.Name)
			switch {
			case have == nil:
				// Rows loaded before have no value: the column starts nullable.
				fmt.Fprintf(&u, "ALTER TABLE %s ADD COLUMN %s %s;\n", name, pg.Ident(c.Name), c.SQL)
				fmt.Fprintf(&d, "ALTER TABLE %s DROP COLUMN %s;\n", name, pg.Ident(c.Name))
			case have.Type != c.Type || c.Type == "numeric" && have.Scale >= 0 && have.Scale != c.Scale:
				fmt.Fprintf(&u, "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s;\n", name, pg.Ident(c.Name), c.SQL, pg.Ident(c.Name), c.SQL)
				fmt.Fprintf(&d, "ALTER TABLE %s ALTER COLUMN %s TYPE %s;\n", name, pg.Ident(c.Name), have.Decl)
			}
			if have != nil && have.NotNull && c.Nullable {
				fmt.Fprintf(&u, "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL;\n", name, pg.Ident(c.Name))
			}
		}
		// A column the contract no longer fills is left NULL by loads from
		// now on; what it holds is kept (drop it by hand if nothing reads it).
		for _, c := range t.Columns {
			if c.NotNull && !c.Default && !hasColumn(wt, c.Name) {
				fmt.Fprintf(&u, "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL; -- the contract no longer fills it\n", name, pg.Ident(c.Name))
			}
		}
	}
	if u.Len() == 0 {
		return "", "", ErrUpToDate
	}
	return u.String(), d.String() + strings.Join(drops, ""), nil
}

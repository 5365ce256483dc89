package staging

import (
	"errors"
	"fmt"
	"strings"

	"github.com/percolate/percolate/internal/config"
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
		name := ident(strings.Split(wt.Name, ".")...)
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
				fmt.Fprintf(&u, "    %s %s%s%s\n", ident(c.Name), c.SQL, null, sep)
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
			fmt.Fprintf(&u, "CREATE INDEX %s ON %s USING brin (%s);\n\n", ident(rel+"_"+brin+"_brin"), name, ident(brin))
			drops = append([]string{"DROP TABLE " + name + ";\n"}, drops...)
			continue
		}
		for _, c := range wt.Columns {
			have := t.Column(c.Name)
			switch {
			case have == nil:
				// Rows loaded before have no value: the column starts nullable.
				fmt.Fprintf(&u, "ALTER TABLE %s ADD COLUMN %s %s;\n", name, ident(c.Name), c.SQL)
				fmt.Fprintf(&d, "ALTER TABLE %s DROP COLUMN %s;\n", name, ident(c.Name))
			case have.Type != c.Type || c.Type == "numeric" && have.Scale >= 0 && have.Scale != c.Scale:
				fmt.Fprintf(&u, "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s;\n", name, ident(c.Name), c.SQL, ident(c.Name), c.SQL)
				fmt.Fprintf(&d, "ALTER TABLE %s ALTER COLUMN %s TYPE %s;\n", name, ident(c.Name), have.Decl)
			}
			if have != nil && have.NotNull && c.Nullable {
				fmt.Fprintf(&u, "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL;\n", name, ident(c.Name))
			}
		}
		// A column the contract no longer fills is left NULL by loads from
		// now on; what it holds is kept (drop it by hand if nothing reads it).
		for _, c := range t.Columns {
			if c.NotNull && !c.Default && !hasColumn(wt, c.Name) {
				fmt.Fprintf(&u, "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL; -- the contract no longer fills it\n", name, ident(c.Name))
			}
		}
	}
	if u.Len() == 0 {
		return "", "", ErrUpToDate
	}
	return u.String(), d.String() + strings.Join(drops, ""), nil
}

// ident quotes a name for a migration that goose reads before PostgreSQL
// does: goose splits statements at a semicolon ending a line and stops
// reading a line at "--", knowing nothing of quotes. A name of letters,
// digits, _ and spaces is quoted as usual; any other is written with
// Unicode escapes (U&"a\003Bb" for a;b), so that no semicolon, dash,
// quote or line break of it reaches goose.
func ident(parts ...string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		if strings.IndexFunc(p, func(r rune) bool { return !plain(r) }) < 0 {
			q[i] = `"` + p + `"`
			continue
		}
		var b strings.Builder
		b.WriteString(`U&"`)
		for _, r := range p {
			switch {
			case plain(r):
				b.WriteRune(r)
			case r <= 0xFFFF:
				fmt.Fprintf(&b, `\%04X`, r)
			default:
				fmt.Fprintf(&b, `\+%06X`, r)
			}
		}
		b.WriteString(`"`)
		q[i] = b.String()
	}
	return strings.Join(q, ".")
}

func plain(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == ' '
}

package dag

import (
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// relRef is a relation named in SQL, with where its name starts.
type relRef struct {
	schema, name string
	offset       int
}

// relations walks a parse tree for the relations it reads and the names of
// its CTEs.
func relations(tree *pg_query.ParseResult) (refs []relRef, ctes []string) {
	Walk(tree.ProtoReflect(), func(m protoreflect.Message) bool {
		switch n := m.Interface().(type) {
		case *pg_query.RangeVar:
			refs = append(refs, relRef{n.Schemaname, n.Relname, int(n.Location)})
		case *pg_query.CommonTableExpr:
			ctes = append(ctes, n.Ctename)
		}
		return true
	})
	return refs, ctes
}

// Walk visits m and then, depth first, the nodes inside it, except inside
// a node for which visit returns false.
func Walk(m protoreflect.Message, visit func(protoreflect.Message) bool) {
	if !visit(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() || fd.Message() == nil:
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				Walk(l.Get(i).Message(), visit)
			}
		default:
			Walk(v.Message(), visit)
		}
		return true
	})
}

// Rewrite returns sql with each schema-qualified relation that rename maps
// replaced by its new name, and everything else (comments, layout, line
// numbers) as written.
func Rewrite(sql string, rename func(string) (string, bool)) (string, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return "", err
	}
	refs, _ := relations(tree)
	scan, err := pg_query.Scan(sql)
	if err != nil {
		return "", err
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	for _, r := range refs {
		if r.schema == "" {
			continue
		}
		to, ok := rename(r.schema + "." + r.name)
		if !ok {
			continue
		}
		// The name spans three tokens from its start: schema, '.', name.
		for i, tok := range scan.Tokens {
			if int(tok.Start) == r.offset && i+2 < len(scan.Tokens) {
				schema, name, _ := strings.Cut(to, ".")
				edits = append(edits, edit{r.offset, int(scan.Tokens[i+2].End), pgx.Identifier{schema, name}.Sanitize()})
				break
			}
		}
	}
	slices.SortFunc(edits, func(a, b edit) int { return b.start - a.start })
	for _, e := range edits {
		sql = sql[:e.start] + e.text + sql[e.end:]
	}
	return sql, nil
}

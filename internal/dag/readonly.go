package dag

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// readOnly is what a model or a check is held to: it reads and writes
// nothing, so that a run's own ledger and staging tables cannot be
// changed by one (a DELETE in a WITH deleted the manifest, and the next
// run loaded every file twice).
const readOnly = "a model or a check is a SELECT that writes nothing: no INSERT, UPDATE, DELETE or MERGE (not even in a WITH), no SELECT INTO, no FOR UPDATE or FOR SHARE"

// write is a data-modifying statement or a row lock found in a query.
type write struct {
	what   string
	offset int
}

// writes finds, in the parse tree of sql, every statement that modifies
// data and every locking clause, anywhere: in a WITH, a subquery, a
// UNION's branch.
func writes(sql string, tree *pg_query.ParseResult) []write {
	var found []write
	rel := func(what string, r *pg_query.RangeVar) {
		w := write{what: what}
		if r != nil {
			w.what += " " + qualifiedName(r)
			w.offset = int(r.Location)
		}
		found = append(found, w)
	}
	locks := 0
	Walk(tree.ProtoReflect(), func(m protoreflect.Message) bool {
		switch n := m.Interface().(type) {
		case *pg_query.InsertStmt:
			rel("INSERT INTO", n.Relation)
		case *pg_query.UpdateStmt:
			rel("UPDATE", n.Relation)
		case *pg_query.DeleteStmt:
			rel("DELETE FROM", n.Relation)
		case *pg_query.MergeStmt:
			rel("MERGE INTO", n.Relation)
		case *pg_query.SelectStmt:
			if n.IntoClause != nil {
				rel("SELECT INTO", n.IntoClause.Rel)
			}
			if len(n.LockingClause) > 0 {
				found = append(found, write{what: "FOR UPDATE/SHARE (a row lock)", offset: lockAt(sql, locks)})
				locks++
			}
		}
		return true
	})
	return found
}

func qualifiedName(r *pg_query.RangeVar) string {
	if r.Schemaname == "" {
		return r.Relname
	}
	return r.Schemaname + "." + r.Relname
}

// lockAt is the offset of the n-th locking clause (FOR UPDATE, FOR NO KEY
// UPDATE, FOR SHARE, FOR KEY SHARE) in sql, or 0: the parse tree does
// not say where one is.
func lockAt(sql string, n int) int {
	scan, err := pg_query.Scan(sql)
	if err != nil {
		return 0
	}
	toks := scan.Tokens
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].Token != pg_query.Token_FOR {
			continue
		}
		switch toks[i+1].Token {
		case pg_query.Token_UPDATE, pg_query.Token_SHARE, pg_query.Token_NO, pg_query.Token_KEY:
			if n == 0 {
				return int(toks[i].Start)
			}
			n--
		}
	}
	return 0
}

// refuseWrites says what the first write in sql is, or nil.
func refuseWrites(sql string, tree *pg_query.ParseResult) (*write, error) {
	ws := writes(sql, tree)
	if len(ws) == 0 {
		return nil, nil
	}
	return &ws[0], fmt.Errorf("%s modifies data: %s", ws[0].what, readOnly)
}

// reservedSchema says why a model may not build in schema, or "": the
// ledger's schema and the staging tables' are Percolate's, and a model
// there would replace a ledger or staging table.
func reservedSchema(schema string, sources, external []string) string {
	switch {
	case slices.Contains(external, schema):
		return "the ledger's"
	case schema == "pg_catalog" || schema == "information_schema" || strings.HasPrefix(schema, "pg_"):
		return "PostgreSQL's"
	case schema == "percolate_spare": // pg.SpareSchema, written out: dag imports no database package
		return "Percolate's (where a build on Citus keeps emptied tables)"
	}
	for _, s := range sources {
		if sch, _, _ := strings.Cut(s, "."); sch == schema {
			return "the staging tables' (" + s + ")"
		}
	}
	return ""
}

package dag

import (
	"crypto/sha256"
	"encoding/hex"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// columnVersions fingerprints each output column of a SELECT: its own
// expression, normalised, with the rest of the query (FROM, WHERE, GROUP
// BY, …, but not the other columns). Editing one column's expression
// changes that column's version alone; editing the rest changes all of
// them. A set operation (UNION) at the top is one whole: every column's
// version is the query's. Columns without a name of their own are left out.
func columnVersions(tree *pg_query.ParseResult) (map[string]string, error) {
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	rest := proto.Clone(sel).(*pg_query.SelectStmt)
	rest.TargetList = nil
	restSQL, err := deparse(tree.Version, rest)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	whole := sel.Op != pg_query.SetOperation_SETOP_NONE
	targets := sel.TargetList
	for s := sel; s.Op != pg_query.SetOperation_SETOP_NONE; s = s.Larg {
		targets = s.Larg.TargetList // the names come from the first branch
	}
	for _, n := range targets {
		rt := n.GetResTarget()
		if rt == nil {
			continue
		}
		name := rt.Name
		if name == "" {
			if cr := rt.Val.GetColumnRef(); cr != nil {
				f := cr.Fields[len(cr.Fields)-1]
				if f.GetAStar() != nil {
					continue
				}
				name = f.GetString_().GetSval()
			}
		}
		if name == "" {
			continue
		}
		expr := ""
		if !whole {
			if expr, err = deparse(tree.Version, &pg_query.SelectStmt{TargetList: []*pg_query.Node{n}}); err != nil {
				return nil, err
			}
		}
		sum := sha256.Sum256([]byte(restSQL + "\x00" + expr))
		out[name] = hex.EncodeToString(sum[:8])
	}
	return out, nil
}

func deparse(version int32, sel *pg_query.SelectStmt) (string, error) {
	return pg_query.Deparse(&pg_query.ParseResult{Version: version, Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}}}}})
}

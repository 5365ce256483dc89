package dag

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Check severities.
const (
	SeverityError = "error" // a failure stops the publish
	SeverityWarn  = "warn"  // a failure is reported and recorded
)

// Check is a data test declared in a model's header as
//
//	-- check: unique(order_id)
//	-- check: not_null(order_id, branch)
//	-- check: accepted_values(payment_method: CASH, CARD)
//	-- check: relationships(product_id -> core.products.product_id)
//	-- check: row_count(min: 1, max: 1000000)
//	-- check: sql SELECT … (returns the bad rows)
//
// with an optional trailing [warn] (the default severity is error).
type Check struct {
	Name     string // as written, without the severity
	Kind     string
	Severity string
	Line     int

	cols   []string
	values []string
	target string // relationships: schema.table
	tcol   string
	min    int64
	max    int64
	custom string
	hasMin bool
	hasMax bool
	refs   []string // relations a custom check or relationships reads
}

// Refs are the relations a check reads besides its model's.
func (c *Check) Refs() []string { return c.refs }

// Columns are the model's columns a check names (unique, not_null,
// accepted_values, relationships), in order.
func (c *Check) Columns() []string { return c.cols }

var checkRe = regexp.MustCompile(`^(\w+)\s*\((.*)\)$`)

// parseCheck reads a check as its model's header writes it at line:
// kind(arguments) or sql SELECT …, with an optional [warn] or [error].
func parseCheck(text string, line int) (*Check, error) {
	c := &Check{Severity: SeverityError, Line: line}
	text = strings.TrimSpace(text)
	if rest, ok := strings.CutSuffix(text, "[warn]"); ok {
		c.Severity, text = SeverityWarn, strings.TrimSpace(rest)
	} else if rest, ok := strings.CutSuffix(text, "[error]"); ok {
		text = strings.TrimSpace(rest)
	}
	c.Name = text
	if q, ok := strings.CutPrefix(text, "sql "); ok {
		if err := c.parseSQL(text, strings.TrimSpace(q)); err != nil {
			return nil, err
		}
		return c, nil
	}
	m := checkRe.FindStringSubmatch(text)
	if m == nil {
		return nil, fmt.Errorf("check %q: want kind(arguments), e.g. unique(order_id), or sql SELECT …", text)
	}
	c.Kind = m[1]
	if err := c.parseArgs(text, strings.TrimSpace(m[2])); err != nil {
		return nil, err
	}
	return c, nil
}

// parseSQL reads a custom check's query q: one SELECT that writes nothing.
func (c *Check) parseSQL(text, q string) error {
	c.Kind, c.custom = "sql", q
	tree, err := pg_query.Parse(c.custom)
	if err != nil {
		return fmt.Errorf("check %q: %v", text, err)
	}
	if len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetSelectStmt() == nil {
		return fmt.Errorf("check %q: a sql check is exactly one SELECT statement, returning the bad rows", text)
	}
	if _, err := refuseWrites(c.custom, tree); err != nil {
		return fmt.Errorf("check %q: %v", text, err)
	}
	refs, _ := relations(tree)
	for _, r := range refs {
		if r.schema != "" {
			c.refs = append(c.refs, r.schema+"."+r.name)
		}
	}
	return nil
}

// argList splits a check's arguments at commas.
func argList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseArgs reads the arguments of a check of kind c.Kind.
func (c *Check) parseArgs(text, args string) error {
	switch c.Kind {
	case "unique", "not_null":
		c.cols = argList(args)
		if len(c.cols) == 0 {
			return fmt.Errorf("check %s: name its columns", text)
		}
	case "accepted_values":
		col, vals, ok := strings.Cut(args, ":")
		if !ok {
			return fmt.Errorf("check %s: want accepted_values(column: value, value)", text)
		}
		c.cols, c.values = []string{strings.TrimSpace(col)}, argList(vals)
	case "relationships":
		col, target, ok := strings.Cut(args, "->")
		parts := strings.Split(strings.TrimSpace(target), ".")
		if !ok || len(parts) != 3 {
			return fmt.Errorf("check %s: want relationships(column -> schema.table.column)", text)
		}
		c.cols, c.target, c.tcol = []string{strings.TrimSpace(col)}, parts[0]+"."+parts[1], parts[2]
		c.refs = []string{c.target}
	case "row_count":
		return c.parseRowCount(text, args)
	default:
		return fmt.Errorf("check kind %q is not one of not_null, unique, accepted_values, relationships, row_count, sql", c.Kind)
	}
	return nil
}

// parseRowCount reads row_count(min: N, max: M), either bound optional.
func (c *Check) parseRowCount(text, args string) error {
	for _, kv := range argList(args) {
		k, v, _ := strings.Cut(kv, ":")
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("check %s: %q is not a count", text, v)
		}
		switch strings.TrimSpace(k) {
		case "min":
			c.min, c.hasMin = n, true
		case "max":
			c.max, c.hasMax = n, true
		default:
			return fmt.Errorf("check %s: want row_count(min: N, max: M)", text)
		}
	}
	if !c.hasMin && !c.hasMax {
		return fmt.Errorf("check %s: want row_count(min: N, max: M)", text)
	}
	return nil
}

// SQL is the query that returns the check's failing rows, reading the
// model's rows from from (its relation, or a subquery of the days built);
// rename maps other relations to the names they have during a build (a
// rebuilt model's new relation).
func (c *Check) SQL(from string, rename func(string) string) string {
	return c.SQLWithin(from, rename, "")
}

// Target is the relation a relationships check reads ("" for another kind).
func (c *Check) Target() string { return c.target }

// TargetColumn is the column of Target a relationships check matches.
func (c *Check) TargetColumn() string { return c.tcol }

// SQLWithin is SQL for a relationships check between two tables sharded by
// the column shard: the parent is looked for on the same value of it too,
// which is what a distributed engine can join (a shard's rows only). ""
// is SQL.
func (c *Check) SQLWithin(from string, rename func(string) string, shard string) string {
	q := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	cols := make([]string, len(c.cols))
	for i, col := range c.cols {
		cols[i] = q(col)
	}
	switch c.Kind {
	case "not_null":
		conds := make([]string, len(cols))
		for i, col := range cols {
			conds[i] = col + " IS NULL"
		}
		return fmt.Sprintf("SELECT * FROM %s AS c WHERE %s", from, strings.Join(conds, " OR "))
	case "unique":
		list := strings.Join(cols, ", ")
		return fmt.Sprintf("SELECT %s, count(*) AS copies FROM %s AS c GROUP BY %s HAVING count(*) > 1", list, from, list)
	case "accepted_values":
		lits := make([]string, len(c.values))
		for i, v := range c.values {
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		return fmt.Sprintf("SELECT * FROM %s AS c WHERE %s IS NOT NULL AND %s NOT IN (%s)", from, cols[0], cols[0], strings.Join(lits, ", "))
	case "relationships":
		also := ""
		if shard != "" {
			also = fmt.Sprintf(" AND p.%s = c.%s", q(shard), q(shard))
		}
		return fmt.Sprintf("SELECT * FROM %s AS c WHERE c.%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE p.%s = c.%s%s)",
			from, cols[0], rename(c.target), q(c.tcol), cols[0], also)
	case "row_count":
		var conds []string
		if c.hasMin {
			conds = append(conds, fmt.Sprintf("count(*) < %d", c.min))
		}
		if c.hasMax {
			conds = append(conds, fmt.Sprintf("count(*) > %d", c.max))
		}
		return fmt.Sprintf("SELECT count(*) AS rows FROM %s AS c HAVING %s", from, strings.Join(conds, " OR "))
	}
	return c.custom
}

package pg

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// JoinCitus makes the databases named by coordinator and workers, each
// new and on its own node, one Citus database: the extension created in
// each, the coordinator told its own address and the workers added. The
// nodes reach each other as the coordinator's user with its password
// (pg_dist_authinfo), which every node must accept. The tests' clusters
// and bench's fresh databases on a coordinator are made this way.
func JoinCitus(ctx context.Context, coordinator string, workers []string) error {
	for _, db := range append([]string{coordinator}, workers...) {
		if err := execOn(ctx, db, "CREATE EXTENSION IF NOT EXISTS citus"); err != nil {
			return err
		}
	}
	coord, err := url.Parse(coordinator)
	if err != nil {
		return fmt.Errorf("pg: citus: %w", err)
	}
	stmts := []string{fmt.Sprintf("SELECT citus_set_coordinator_host(%s, %s)", Literal(coord.Hostname()), portOf(coord))}
	if pw, ok := coord.User.Password(); ok {
		stmts = append([]string{fmt.Sprintf(`INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, %s, %s)
			ON CONFLICT (nodeid, rolename) DO UPDATE SET authinfo = excluded.authinfo`,
			Literal(coord.User.Username()), Literal("password="+pw))}, stmts...)
	}
	for _, w := range workers {
		wu, err := url.Parse(w)
		if err != nil {
			return fmt.Errorf("pg: citus: %w", err)
		}
		stmts = append(stmts, fmt.Sprintf("SELECT citus_add_node(%s, %s)", Literal(wu.Hostname()), portOf(wu)))
	}
	for _, s := range stmts {
		if err := execOn(ctx, coordinator, s); err != nil {
			return err
		}
	}
	return nil
}

// CitusWorkers lists the primary workers of the Citus coordinator that
// admin reaches, as URLs of the same user, password, database and
// options; none when admin's database has no citus extension.
func CitusWorkers(ctx context.Context, admin string) ([]string, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("pg: citus workers: %w", err)
	}
	defer conn.Close(ctx)
	var has bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')").Scan(&has); err != nil || !has {
		return nil, err
	}
	rows, err := conn.Query(ctx, "SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0 ORDER BY nodeid")
	if err != nil {
		return nil, fmt.Errorf("pg: citus workers: %w", err)
	}
	type node struct {
		Host string
		Port int32
	}
	nodes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[node])
	if err != nil {
		return nil, fmt.Errorf("pg: citus workers: %w", err)
	}
	base, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, n := range nodes {
		u := *base
		u.Host = n.Host + ":" + strconv.Itoa(int(n.Port))
		urls = append(urls, u.String())
	}
	return urls, nil
}

// portOf is u's port, 5432 when it names none.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}

// Literal is s as an SQL string literal, for the statements that take no
// parameters (DDL, COMMENT, a Citus command run on another node).
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// execOn runs sql on a connection of its own to db.
func execOn(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return fmt.Errorf("pg: citus: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pg: citus: %s: %w", sql, err)
	}
	return nil
}

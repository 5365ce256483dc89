package warehouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SetPassword gives Citus the password pw of role: the coordinator reads
// the workers' shards as the role that queries it (Citus has made the
// role, and set its verifier, on every node). pg_dist_authinfo holds a
// conninfo, the password in clear: the statement that writes it is kept
// out of the server's log, and runs only when it changed. It does nothing
// on plain PostgreSQL, where the role's verifier is all there is.
func (e *Engine) SetPassword(ctx context.Context, pool *pgxpool.Pool, role, pw string) error {
	if !e.IsCitus() {
		return nil
	}
	conninfo := "password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
	// Read, and compared here: a statement comparing it would log it. A
	// database is new to Citus while the role, and its password, are old.
	var have string
	err := pool.QueryRow(ctx, `SELECT coalesce((SELECT authinfo FROM pg_dist_authinfo WHERE nodeid = 0 AND rolename = $1), '')`, role).Scan(&have)
	if err != nil {
		return fmt.Errorf("read Citus's password of %s: %w", role, err)
	}
	if have == conninfo {
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL log_statement = 'none'; SET LOCAL log_min_error_statement = 'panic';
			SET LOCAL log_min_duration_statement = -1; SET LOCAL log_min_duration_sample = -1;
			SET LOCAL log_transaction_sample_rate = 0; SET LOCAL log_parameter_max_length = 0`); err != nil {
			return fmt.Errorf("keep the password of %s out of the server's log: %w", role, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, $1, $2)
			ON CONFLICT (nodeid, rolename) DO UPDATE SET authinfo = excluded.authinfo`, role, conninfo); err != nil {
			return fmt.Errorf("give Citus the password of %s: %w", role, err)
		}
		return nil
	})
}

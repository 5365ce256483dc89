package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrBusy is returned by Lock when another process holds the lock and the
// caller asked not to wait.
var ErrBusy = errors.New("another percolate run holds the lock on this database")

// Connect opens a pool on url and checks that the server answers.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Held is a lock Lock took: Release gives it back, Check says whether it
// is still held.
type Held struct {
	conn    *pgxpool.Conn
	release sync.Once
}

// Lock takes the lock named by name (a table lock on percolate.NAME_lock)
// in a transaction of its own connection, held until Release, so that two
// runs against one database never interleave. With wait false it returns
// ErrBusy at once when the lock is held.
//
// It is a lock on a ledger table, not an advisory lock: any role that can
// connect may take any advisory lock, so a dashboard's read-only role could
// stop every run; it cannot lock a table it has no privilege on. A table
// lock assigns no transaction id and the transaction keeps no snapshot
// between statements, so holding it open does not hold back vacuum.
func Lock(ctx context.Context, pool *pgxpool.Pool, name string, wait bool) (*Held, error) {
	table := Ident("percolate", name+"_lock")
	if err := lockTable(ctx, pool, table); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	h := &Held{conn: conn}
	// A server's timeouts must neither end the wait nor the idle
	// transaction that holds the lock.
	set := "BEGIN; SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0"
	if _, err := conn.Exec(ctx, set); err != nil {
		h.Release()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	lock := "LOCK TABLE " + table + " IN EXCLUSIVE MODE"
	if !wait {
		lock += " NOWAIT"
	}
	if _, err := conn.Exec(ctx, lock); err != nil {
		h.Release()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return h, nil
}

// ErrLockLost is returned by Check when the lock's connection is gone
// (the server ended it, or the network did): another run may hold the
// lock now.
var ErrLockLost = errors.New("the run lock was lost (its connection to the server ended)")

// Check returns ErrLockLost when the lock is no longer held. A run asks
// before it commits what others must not interleave with, such as a
// publish.
func (h *Held) Check(ctx context.Context) error {
	_, err := h.conn.Exec(ctx, "SELECT")
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	case h.conn.Conn().PgConn().TxStatus() != 'T':
		return ErrLockLost
	}
	return nil
}

// Release gives the lock back; a second call does nothing.
func (h *Held) Release() {
	h.release.Do(func() {
		// A fresh context: the lock must be released even when ctx was
		// cancelled; bounded, so that a dead connection cannot hang the
		// exit (the server ends the transaction when it sees it gone).
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.conn.Exec(rctx, "ROLLBACK")
		h.conn.Release()
	})
}

// lockTable makes the table Lock locks, when missing: the lock is taken
// before migrations run. Two first runs may race to make it.
func lockTable(ctx context.Context, pool *pgxpool.Pool, table string) error {
	var there bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&there); err != nil || there {
		return err
	}
	if err := EnsureSchema(ctx, pool, "percolate"); err != nil {
		return err
	}
	return createRacing(ctx, pool, "CREATE TABLE IF NOT EXISTS "+table+" ()")
}

// EnsureSchema makes schema s when it is missing. CREATE SCHEMA IF NOT
// EXISTS wants CREATE on the database even when the schema is there: it
// is not asked of a role that never needs it.
func EnsureSchema(ctx context.Context, pool *pgxpool.Pool, s string) error {
	var there bool
	if err := pool.QueryRow(ctx, "SELECT to_regnamespace($1) IS NOT NULL", Ident(s)).Scan(&there); err != nil {
		return fmt.Errorf("look for schema %s: %w", s, err)
	}
	if there {
		return nil
	}
	if err := createRacing(ctx, pool, "CREATE SCHEMA IF NOT EXISTS "+Ident(s)); err != nil {
		return fmt.Errorf("make schema %s: %w", s, Explain(err))
	}
	return nil
}

// createRacing runs a CREATE … IF NOT EXISTS that another first run may
// be running too: IF NOT EXISTS does not stop the loser's unique
// violation.
func createRacing(ctx context.Context, pool *pgxpool.Pool, stmt string) error {
	var err error
	for range 3 {
		if _, err = pool.Exec(ctx, stmt); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "23505" && pgErr.Code != "42P07") { // the other one made it
			return err
		}
	}
	return err
}

// Describe turns a PostgreSQL error into one line a person can act on.
func Describe(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	msg := pgErr.Message
	if pgErr.Detail != "" {
		msg += " (" + pgErr.Detail + ")"
	}
	if pgErr.Hint != "" {
		msg += "; hint: " + pgErr.Hint
	}
	return msg + " [SQLSTATE " + pgErr.Code + "]"
}

// Ident quotes a possibly schema-qualified relation name.
func Ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// Explain wraps a PostgreSQL error so that it reads as Describe says,
// while errors.As still finds the *pgconn.PgError inside.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	return &explained{err}
}

type explained struct{ err error }

func (e *explained) Error() string { return Describe(e.err) }
func (e *explained) Unwrap() error { return e.err }

// Redact returns a connection string with its password masked, to show:
// a URL's user password or password parameter, or a keyword/value
// string's password=.
func Redact(conn string) string {
	u, err := url.Parse(conn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return kvPassword.ReplaceAllString(conn, "${1}xxxxx")
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// kvPassword is password= in a keyword/value connection string, quoted
// or not.
var kvPassword = regexp.MustCompile(`(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// SplitPassword returns a connection URL without its password, and the
// password, so that a program can be given it by PGPASSWORD rather than on
// its command line, which every user of the machine may read. A
// keyword/value string is returned as it is.
func SplitPassword(conn string) (string, string) {
	u, err := url.Parse(conn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return conn, ""
	}
	var pw string
	if u.User != nil {
		if p, has := u.User.Password(); has {
			pw = p
			u.User = url.User(u.User.Username())
		}
	}
	if q := u.Query(); q.Has("password") {
		if pw == "" {
			pw = q.Get("password")
		}
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String(), pw
}

// ModelsRole is the role models, checks and unit tests run as: it reads
// the sources and writes only the schemas models own (docs/security.md).
// Migrations make it; the role percolate connects as is a member.
const ModelsRole = "percolate_models"

// SpareSchema is where a build on Citus keeps the tables a publish
// replaced, emptied, for the models' next builds (see build's spare.go):
// the models' role uses it, no one else, and no model may build there.
const SpareSchema = "percolate_spare"

// AsModels makes the rest of tx run as ModelsRole, until AsConnected.
func AsModels(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+Ident(ModelsRole)); err != nil {
		return fmt.Errorf("run as %s: %w", ModelsRole, err)
	}
	return nil
}

// AsConnected makes the rest of tx run as the role percolate connected as
// again: the ledger's writes in a build's transaction.
func AsConnected(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE NONE"); err != nil {
		return fmt.Errorf("set the role back: %w", err)
	}
	return nil
}

// Commit commits tx as a safe point: cancelled before it, the transaction
// rolls back (the caller's deferred Rollback) and ctx's error is returned;
// once sent, the COMMIT goes through whatever happens to ctx, so that the
// caller says what the server did (a cancel during its round trip would
// leave that unknown).
func Commit(ctx context.Context, tx pgx.Tx) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return tx.Commit(context.WithoutCancel(ctx))
}

package pg

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"

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
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Lock takes a session-level advisory lock named by name on its own
// connection, so that two runs against one database never interleave. With
// wait false it returns ErrBusy at once when the lock is held. The returned
// function releases the lock.
func Lock(ctx context.Context, pool *pgxpool.Pool, name string, wait bool) (func(), error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("percolate:" + name))
	key := int64(h.Sum64())
	if wait {
		_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key)
	} else {
		var ok bool
		err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
		if err == nil && !ok {
			err = ErrBusy
		}
	}
	if err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		// A fresh context: the lock must be released even when ctx was cancelled.
		conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		conn.Release()
	}, nil
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

// Citus returns the version of the citus extension in the database q
// reaches, or "" when it has none: then the warehouse is plain PostgreSQL.
func Citus(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var v string
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'citus'), '')`).Scan(&v)
	return v, err
}

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

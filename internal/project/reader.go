package project

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/warehouse"
)

// readerRole is the read-only role Grafana logs in as.
const readerRole = "percolate_grafana"

// readerSetting names the ledger's fingerprint of the reader's password.
const readerSetting = "reader_password_fingerprint"

// SetReaderPassword gives the read-only role percolate_grafana the
// password the project was opened with, when it was given one: it is never
// committed anywhere, and never sent to the server: the server is given
// the SCRAM verifier made here, and only when the password changed, so
// that no statement log (log_statement = ddl) nor error log holds it.
func (p *Folder) SetReaderPassword(ctx context.Context, pool *pgxpool.Pool) error {
	if p.opt.ReaderPassword == "" {
		return nil
	}
	e, err := warehouse.Detect(ctx, pool)
	if err != nil {
		return err
	}
	return p.setReaderPassword(ctx, pool, e)
}

// setReaderPassword is SetReaderPassword on the engine e: Citus is given
// the password too (warehouse.Engine.SetPassword).
func (p *Folder) setReaderPassword(ctx context.Context, pool *pgxpool.Pool, e *warehouse.Engine) error {
	pw := p.opt.ReaderPassword
	if pw == "" {
		return nil
	}
	key, err := p.hashKey()
	if err != nil {
		return fmt.Errorf("hash key: %w", err)
	}
	fp := readerFingerprint(key, pw)
	same, err := p.readerPasswordIs(ctx, pool, pw, fp)
	if err != nil {
		return err
	}
	if !same {
		if err := p.setReaderVerifier(ctx, pool, pw, fp); err != nil {
			return err
		}
	}
	return e.SetPassword(ctx, pool, readerRole, pw)
}

// setReaderVerifier sets the reader's password by its verifier and
// records its fingerprint.
func (p *Folder) setReaderVerifier(ctx context.Context, pool *pgxpool.Pool, pw, fp string) error {
	verifier, err := pg.ScramVerifier(pw)
	if err != nil {
		return err
	}
	// A verifier is base64 and punctuation: no quote to escape. ALTER ROLE
	// takes no parameters.
	if _, err := pool.Exec(ctx, "ALTER ROLE "+readerRole+" PASSWORD '"+verifier+"'"); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			return fmt.Errorf("set the password of %s: %w", readerRole, pg.Explain(err))
		}
		// A loader without CREATEROLE: a password a DBA set already is
		// as good; the run goes on when the role logs in with it.
		if !readerLogsIn(ctx, pool, pw) {
			return notPermitted(ctx, pool)
		}
	}
	if err := p.ledger.SetSetting(ctx, pool, readerSetting, fp); err != nil {
		return fmt.Errorf("record the fingerprint of the password of %s: %w", readerRole, err)
	}
	return nil
}

// readerFingerprint is a keyed hash of the reader's password, to tell
// whether it changed: without the hash key, which the warehouse never
// holds, the ledger's copy says nothing of the password.
func readerFingerprint(key []byte, pw string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(readerRole + " password\x00" + pw))
	return hex.EncodeToString(h.Sum(nil))
}

// readerPasswordIs says whether the reader's password is pw already: by
// its verifier in pg_authid when this role may read it (a superuser),
// else by the fingerprint the ledger recorded when it was last set.
func (p *Folder) readerPasswordIs(ctx context.Context, pool *pgxpool.Pool, pw, fp string) (bool, error) {
	var verifier *string
	err := pool.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, readerRole).Scan(&verifier)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return verifier != nil && pg.ScramMatches(*verifier, pw), nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, fmt.Errorf("set the password of %s: the role does not exist (the migrations make it)", readerRole)
	case !errors.As(err, &pgErr) || pgErr.Code != "42501":
		return false, fmt.Errorf("read the password of %s: %w", readerRole, pg.Explain(err))
	}
	got, err := p.ledger.Setting(ctx, pool, readerSetting)
	if err != nil {
		return false, fmt.Errorf("read the fingerprint of the password of %s: %w", readerRole, err)
	}
	return hmac.Equal([]byte(got), []byte(fp)), nil
}

// readerLogsIn says whether the reader role logs in with pw, by SCRAM:
// the password does not cross the wire.
func readerLogsIn(ctx context.Context, pool *pgxpool.Pool, pw string) bool {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.User, cfg.Password = readerRole, pw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// notPermitted says which privilege the loader's role lacks to set the
// reader's password, and what a superuser can do instead.
func notPermitted(ctx context.Context, pool *pgxpool.Pool) error {
	var who string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil {
		who = "the loader's role"
	}
	return fmt.Errorf("set the password of %s: role %s may not: it needs CREATEROLE and, on PostgreSQL 16 and later, ADMIN OPTION on %s (GRANT %s TO %s WITH ADMIN OPTION); or a superuser sets it with psql's \\password %s (the password was not sent nor logged)",
		readerRole, who, readerRole, readerRole, pgx.Identifier{who}.Sanitize(), readerRole)
}

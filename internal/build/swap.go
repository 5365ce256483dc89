package build

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// Readers and the swap: renaming a table takes an ACCESS EXCLUSIVE lock,
// which waits for every reader of the table to finish, and every reader
// that comes after waits behind it. So the swap waits at most
// swapLockWait at a time, then lets the queue go, and tries again a
// little later, until wait is spent: a dashboard query is held up by at
// most swapLockWait, and a reader that holds a table for longer than wait
// (an open transaction, a runaway query) fails the run, naming it, with
// nothing published; the next run builds and publishes again.
const swapLockWait = 2 * time.Second

// ErrReaders is wrapped by the error of a publish that readers kept
// waiting past its wait.
var ErrReaders = errors.New("readers held the relations to replace")

// swapWhenFree swaps within a savepoint, again and again while readers
// hold what it must lock, for up to wait. The swap never waits for a lock
// while it holds one a reader may wait for, so that no reader and no run
// can deadlock: every attempt but the first waits (up to swapLockWait) for
// the one table a reader held last time, holding nothing else yet, then
// takes every other lock at once or not at all (grabWait), in the swap's
// fixed order. A deadlock all the same (a reader holding one relation the
// swap replaces while it waits on another, on an engine whose writes lock
// tables) is tried again like a lock timeout.
func swapWhenFree(ctx context.Context, tx pgx.Tx, g *dag.Graph, building wholes, keeps func(*dag.Model) bool, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	pause := 50 * time.Millisecond
	contended := ""
	for {
		left := time.Until(deadline)
		if _, err := tx.Exec(ctx, "SAVEPOINT swap"); err != nil {
			return err
		}
		err := waitFor(ctx, tx, contended, min(swapLockWait, left))
		if err == nil {
			if _, err = tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", grabWait.Milliseconds())); err == nil {
				err = swap(ctx, tx, g, building, keeps)
			}
		}
		if err == nil {
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT swap; SET LOCAL lock_timeout TO DEFAULT")
			return err
		}
		var busy *busyError
		if !errors.As(err, &busy) {
			return err
		}
		contended = busy.table
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT swap"); rerr != nil {
			return errors.Join(err, rerr)
		}
		if time.Until(deadline) <= 0 {
			return fmt.Errorf("publish: %w for more than %s: %s; nothing was published, and the next run builds and publishes again",
				ErrReaders, wait, holders(ctx, tx, g, building))
		}
		select {
		case <-time.After(min(pause, time.Until(deadline))):
		case <-ctx.Done():
			return ctx.Err()
		}
		pause = min(2*pause, time.Second)
	}
}

// grabWait is how long the swap waits for each lock once it holds
// another: long enough for a free lock, too short for a deadlock to form
// (the server looks for one after deadlock_timeout, a second by default).
const grabWait = 20 * time.Millisecond

// busyError is a lock the swap could not take: a reader held it. table
// is the relation when it is a table, which the next attempt waits for
// first ("" for a view: locking one locks what it reads).
type busyError struct {
	table string
	err   error
}

func (e *busyError) Error() string { return e.err.Error() }
func (e *busyError) Unwrap() error { return e.err }

// contention wraps err as a busyError when it is a lock timeout or a
// deadlock on relation rel (a table when table is true).
func contention(err error, rel string, table bool) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" && pgErr.Code != "40P01" { // lock_not_available, deadlock_detected
		return err
	}
	if !table {
		rel = ""
	}
	return &busyError{table: rel, err: err}
}

// waitFor takes table's ACCESS EXCLUSIVE lock, waiting up to wait for it;
// nothing when table is "", or gone.
func waitFor(ctx context.Context, tx pgx.Tx, table string, wait time.Duration) error {
	if table == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(1, wait.Milliseconds()))); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE")
	return contention(err, table, true)
}

// holders describes the other sessions holding locks on the live models
// being replaced.
func holders(ctx context.Context, tx pgx.Tx, g *dag.Graph, building wholes) string {
	var rels []string
	for _, m := range g.Models {
		if building[m.Name] {
			rels = append(rels, pg.Ident(m.Schema, m.Rel))
		}
	}
	var who string
	err := tx.QueryRow(ctx, `SELECT coalesce(string_agg(DISTINCT format('%s by pid %s (%s, in a transaction for %s: %s)',
		    l.relation::regclass, a.pid, coalesce(nullif(a.usename, ''), '?'), date_trunc('second', now() - a.xact_start), left(a.query, 80)), '; '), 'readers gone meanwhile')
		FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.granted AND l.pid <> pg_backend_pid()
		  AND l.relation IN (SELECT to_regclass(r) FROM unnest($1::text[]) AS r)`, rels).Scan(&who)
	if err != nil {
		return "(who: " + err.Error() + ")"
	}
	return who
}

// swap publishes the built relations: model views that depend on them are
// dropped children-first, the old tables dropped (or, those keeps says,
// parked as spares and emptied, see park), the new renamed into place, and
// the views recreated parents-first from their own SQL. No
// CASCADE: an object outside the models that depends on a model stops the
// swap with the database's message, and nothing is published.
func swap(ctx context.Context, tx pgx.Tx, g *dag.Graph, building wholes, keeps func(*dag.Model) bool) error {
	isTable := func(m *dag.Model) bool { return m.Config.Materialized != dag.View }
	// Views to recreate: rebuilt ones, and views reading anything swapped.
	recreate := map[string]bool{}
	for _, m := range g.Models {
		if m.Config.Materialized != dag.View {
			continue
		}
		if building[m.Name] {
			recreate[m.Name] = true
			continue
		}
		for _, p := range m.Parents {
			if (building[p] && isTable(g.Model(p))) || recreate[p] {
				recreate[m.Name] = true
			}
		}
	}
	var spares []*dag.Model
	for i := len(g.Models) - 1; i >= 0; i-- {
		m := g.Models[i]
		if !recreate[m.Name] && !building[m.Name] {
			continue
		}
		if err := dropEnvReaders(ctx, tx, m.Schema, m.Rel); err != nil {
			return fmt.Errorf("publish %s: drop the environments' views of it: %w", m.Name, pg.Explain(err))
		}
		parked := false
		if building[m.Name] && keeps(m) {
			var err error
			if parked, err = park(ctx, tx, m); err != nil {
				return contention(fmt.Errorf("publish %s: keep its table: %w", m.Name, pg.Explain(err)), pg.Ident(m.Schema, m.Rel), true)
			}
		}
		if parked {
			spares = append(spares, m)
		} else if err := dropRelation(ctx, tx, m.Schema, m.Rel, false); err != nil {
			return contention(fmt.Errorf("publish %s: %w", m.Name, pg.Explain(err)), pg.Ident(m.Schema, m.Rel), isTable(m))
		}
		// A view built beside its live one is recreated from its SQL: its
		// __next goes, after the views that read it (children first).
		if building[m.Name] && !isTable(m) {
			if _, err := tx.Exec(ctx, "DROP VIEW "+pg.Ident(m.Schema, m.Rel+nextSuffix)); err != nil {
				return contention(fmt.Errorf("publish %s: %w", m.Name, pg.Explain(err)), "", false)
			}
		}
	}
	for _, m := range g.Models {
		switch {
		case building[m.Name] && isTable(m):
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", pg.Ident(m.Schema, m.Rel+nextSuffix), pg.Ident(m.Rel))); err != nil {
				// Autovacuum analyzing the new table holds a lock it gives up
				// only to a wait longer than deadlock_timeout: waited for
				// next time, holding nothing.
				return contention(fmt.Errorf("publish %s: %w", m.Name, pg.Explain(err)), pg.Ident(m.Schema, m.Rel+nextSuffix), true)
			}
		case recreate[m.Name]:
			prefix := "CREATE VIEW " + pg.Ident(m.Schema, m.Rel) + " AS\n"
			if _, err := tx.Exec(ctx, prefix+m.Body()+"\n"); err != nil {
				return ErrorAt(m, err, prefix, m.Body())
			}
		}
	}
	return emptySpares(ctx, tx, spares)
}

// dropRelation drops a relation of any kind if it exists: its kind is
// read from the catalog (pg_class.relkind), never guessed, so the DROP is
// one that cannot fail on what it finds, and the transaction it runs in
// goes on. With cascade, views reading it go too.
func dropRelation(ctx context.Context, q ledger.Querier, schema, rel string, cascade bool) error {
	var kind string
	err := q.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, rel).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	stmt, ok := dropKinds[kind]
	if !ok {
		return fmt.Errorf("%s is a relation of kind %q, which a model never builds: drop it by hand", pg.Ident(schema, rel), kind)
	}
	stmt += " " + pg.Ident(schema, rel)
	if cascade {
		stmt += " CASCADE"
	}
	if _, err := q.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("drop %s: %w", pg.Ident(schema, rel), err)
	}
	return nil
}

// dropKinds is the DROP statement of each kind of relation pg_class
// knows (relkind) that a build may find where it builds.
var dropKinds = map[string]string{
	"r": "DROP TABLE", "p": "DROP TABLE", "f": "DROP FOREIGN TABLE",
	"v": "DROP VIEW", "m": "DROP MATERIALIZED VIEW",
	"S": "DROP SEQUENCE", "i": "DROP INDEX", "I": "DROP INDEX",
}

// sweep drops the models' NAME__next relations that are there before a
// build: what a killed run (or a crashed server) left beside the live
// relations; and the spares no model takes back (see sweepSpares). Only
// one run builds at a time (the caller holds the run lock), so whatever is
// there now belongs to no one. Left in place, a leftover view of a live
// table would stop that table's next swap.
func sweep(ctx context.Context, q ledger.Querier, plan *Plan, g *dag.Graph) error {
	var schemas, rels []string
	for _, m := range g.Models {
		schemas, rels = append(schemas, m.Schema), append(rels, m.Rel+nextSuffix)
	}
	rows, err := q.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN unnest($1::text[], $2::text[]) AS l (schema, rel) ON l.schema = n.nspname AND l.rel = c.relname
		ORDER BY c.relkind = 'v' DESC, 1, 2`, schemas, rels)
	if err != nil {
		return fmt.Errorf("find the relations a killed run left: %w", err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Schema, Rel string }])
	if err != nil {
		return fmt.Errorf("find the relations a killed run left: %w", err)
	}
	for _, r := range left {
		// Views first, then with CASCADE: one dropped by an earlier DROP is
		// no longer found, and nothing else can stop the next.
		if err := dropRelation(ctx, q, r.Schema, r.Rel, true); err != nil {
			return fmt.Errorf("drop %s, left by a killed run: %w", pg.Ident(r.Schema, r.Rel), err)
		}
	}
	return sweepSpares(ctx, q, plan, g)
}

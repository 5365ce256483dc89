package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// coreFloor is what holding the project's keyed tables costs the server
// at the least: their rows, as the run built them, copied from the
// database at src (binary COPY, one stream a table) into empty tables of
// the same shape in conn, then each index the run built on them created
// once, one after another on one connection. A build that writes the same
// rows and keeps the same indexes cannot take less server time than this.
// Returns the time and the rows written.
func coreFloor(ctx context.Context, src, conn *pgx.Conn) (time.Duration, int64, error) {
	var tables []string
	var schemas, ddl, indexes string
	// The tables with a primary or unique index that a model's key made:
	// the keyed core, whatever the project names it.
	if err := src.QueryRow(ctx, `
		SELECT coalesce(array_agg(c.oid::regclass::text ORDER BY c.oid), '{}'),
		       coalesce(string_agg(DISTINCT format('CREATE SCHEMA IF NOT EXISTS %I;', n.nspname), ''), ''),
		       coalesce(string_agg(format('CREATE TABLE %s (%s);', c.oid::regclass,
		           (SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
		            FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped)), ''), ''),
		       coalesce(string_agg((SELECT string_agg(pg_get_indexdef(indexrelid) || ';', '') FROM pg_index WHERE indrelid = c.oid), ''), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('percolate', 'staging', 'pg_catalog', 'information_schema')
		  AND EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique)`).Scan(&tables, &schemas, &ddl, &indexes); err != nil {
		return 0, 0, fmt.Errorf("the keyed tables: %w", err)
	}
	if _, err := conn.Exec(ctx, schemas+ddl); err != nil {
		return 0, 0, fmt.Errorf("the keyed tables' shape: %w", err)
	}
	held := make([]*bytes.Buffer, len(tables))
	for i, t := range tables {
		held[i] = new(bytes.Buffer)
		if _, err := src.PgConn().CopyTo(ctx, held[i], "COPY "+t+" TO STDOUT (FORMAT binary)"); err != nil {
			return 0, 0, fmt.Errorf("copy %s out: %w", t, err)
		}
	}
	var rows int64
	start := time.Now()
	for i, t := range tables {
		tag, err := conn.PgConn().CopyFrom(ctx, held[i], "COPY "+t+" FROM STDIN (FORMAT binary)")
		if err != nil {
			return 0, 0, fmt.Errorf("copy %s in: %w", t, err)
		}
		rows += tag.RowsAffected()
	}
	if _, err := conn.Exec(ctx, indexes); err != nil {
		return 0, 0, fmt.Errorf("the keyed tables' indexes: %w", err)
	}
	return time.Since(start), rows, nil
}

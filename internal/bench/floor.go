package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/warehouse"
)

// psqlStream copies every file's raw rows into the empty database u with
// one psql process, as one stream: the yardstick.
func psqlStream(ctx context.Context, u string, files []string) (int64, []Phase, error) {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close(ctx)
	// No autovacuum of it: it would vacuum 180 MB while the next job runs.
	if _, err := conn.Exec(ctx, `CREATE TABLE raw (a text, b text, c text, d text, e text, f text, g text) WITH (autovacuum_enabled = off)`); err != nil {
		return 0, nil, err
	}
	// On Citus, a distributed table, sharded by the branch's column as
	// the warehouse's staging tables are: the yardstick a distributed
	// load has.
	e, err := warehouse.Detect(ctx, conn)
	if err != nil {
		return 0, nil, err
	}
	if err := e.Distribute(ctx, conn, "raw", "b"); err != nil {
		return 0, nil, err
	}
	bin, err := psqlBinary()
	if err != nil {
		return 0, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-q", "-v", "ON_ERROR_STOP=1", "-c", `\copy raw FROM STDIN CSV`, u)
	cmd.Stdin = &concat{files: files}
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, nil, fmt.Errorf("%w: %s", err, out)
	}
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM raw").Scan(&n)
	return n, nil, err
}

// concat reads files one after another, as cat does, opening each in turn.
type concat struct {
	files []string
	cur   *os.File
}

func (c *concat) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.files) == 0 {
				return 0, io.EOF
			}
			f, err := os.Open(c.files[0])
			if err != nil {
				return 0, err
			}
			c.cur, c.files = f, c.files[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Floor is what the server needs at the least for the year: writing the
// rows the warehouse holds (the typed order and item rows and the items'
// and orders' per-file sums, already encoded for binary COPY, one stream, into tables
// shaped as staging, then their BRIN indexes built) and the sums the marts and the dedup make of them, one after another on
// one connection. Percolate cannot take less server time than this; it
// only spreads it over the cores.
type Floor struct {
	Write, Sums time.Duration
	// Core is writing the keyed tables' rows and building their indexes
	// (coreFloor), CoreRows the rows.
	Core     time.Duration
	CoreRows int64
}

// floorTables are the staging tables Floor writes.
var floorTables = []string{"staging.transactions", "staging.transaction_item_sums", "staging.transaction_sums"}

// floor measures Floor from the staging tables of the database at from,
// into a fresh database on the same server.
func floor(ctx context.Context, base, from string) (Floor, error) {
	var f Floor
	src, err := pgx.Connect(ctx, from)
	if err != nil {
		return f, fmt.Errorf("floor: %w", err)
	}
	defer src.Close(ctx)
	dir, err := os.MkdirTemp("", "percolate-floor-")
	if err != nil {
		return f, fmt.Errorf("floor: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := dumpTables(ctx, src, dir); err != nil {
		return f, err
	}
	u, err := freshDB(ctx, base, "bench_floor")
	if err != nil {
		return f, err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return f, fmt.Errorf("floor: %w", err)
	}
	defer conn.Close(ctx)
	indexes, err := copyShapes(ctx, src, conn)
	if err != nil {
		return f, err
	}
	if _, err := settle(ctx, base); err != nil {
		return f, err
	}
	start := time.Now()
	if err := writeTables(ctx, conn, dir, indexes); err != nil {
		return f, err
	}
	f.Write = time.Since(start)
	if _, err := settle(ctx, base); err != nil {
		return f, err
	}
	if f.Core, f.CoreRows, err = coreFloor(ctx, src, conn); err != nil {
		return f, err
	}
	if _, err := settle(ctx, base); err != nil {
		return f, err
	}
	start = time.Now()
	if err := floorSums(ctx, conn); err != nil {
		return f, err
	}
	f.Sums = time.Since(start)
	return f, nil
}

// dumpTables copies floorTables out of src into files in dir, in binary
// COPY format.
func dumpTables(ctx context.Context, src *pgx.Conn, dir string) error {
	for _, t := range floorTables {
		out, err := os.Create(filepath.Join(dir, t))
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		_, err = src.PgConn().CopyTo(ctx, out, "COPY "+t+" TO STDOUT (FORMAT binary)")
		out.Close()
		if err != nil {
			return fmt.Errorf("floor: copy %s out: %w", t, err)
		}
	}
	return nil
}

// copyShapes makes floorTables in conn as they are in src, empty and
// without their indexes, and returns the statements that build those.
// The BRIN indexes are built after the rows are written, as a load into
// empty tables does (see the loader's deferIndexes).
func copyShapes(ctx context.Context, src, conn *pgx.Conn) (indexes string, err error) {
	var ddl string
	if err := src.QueryRow(ctx, `SELECT string_agg(format('CREATE TABLE %s (%s);', c.oid::regclass,
		    (SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
		     FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped)), ''),
		  string_agg((SELECT string_agg(pg_get_indexdef(indexrelid) || ';', '') FROM pg_index WHERE indrelid = c.oid), '')
		FROM pg_class c WHERE c.oid = ANY($1::regclass[])`, floorTables).Scan(&ddl, &indexes); err != nil {
		return "", fmt.Errorf("floor: read the staging tables' shape: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA staging; "+ddl); err != nil {
		return "", fmt.Errorf("floor: make the staging tables: %w", err)
	}
	return indexes, nil
}

// writeTables copies the files of dir into floorTables in conn, then
// builds their indexes: what Floor.Write measures.
func writeTables(ctx context.Context, conn *pgx.Conn, dir, indexes string) error {
	for _, t := range floorTables {
		in, err := os.Open(filepath.Join(dir, t))
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		_, err = conn.PgConn().CopyFrom(ctx, in, "COPY "+t+" FROM STDIN (FORMAT binary)")
		in.Close()
		if err != nil {
			return fmt.Errorf("floor: copy into %s: %w", t, err)
		}
	}
	if _, err := conn.Exec(ctx, indexes); err != nil {
		return fmt.Errorf("floor: build the indexes: %w", err)
	}
	return nil
}

// floorSums makes the sums the marts and the dedup make, as cheaply as
// they can be made: what Floor.Sums measures.
func floorSums(ctx context.Context, conn *pgx.Conn) error {
	for _, sql := range []string{
		"SET work_mem = '128MB'; SET max_parallel_workers_per_gather = 0",
		// The dedup as cheap as it gets: the rows the loader marked, on the
		// days the files' order sums count them, and the branch-days more
		// than one file delivers, from the same sums.
		"CREATE TABLE repeated AS SELECT load_id, source_line FROM staging.transactions WHERE repeated AND sales_date = ANY (ARRAY(SELECT DISTINCT sales_date FROM staging.transaction_sums WHERE repeats > 0)) UNION ALL SELECT min(load_id), 0 FROM staging.transaction_sums GROUP BY sales_date, branch HAVING min(load_id) <> max(load_id)",
		"CREATE TABLE order_sums AS SELECT branch, sales_date, hour, payment_method, sum(orders) AS orders, sum(item_count) AS items, sum(total) AS revenue FROM staging.transaction_sums GROUP BY 1, 2, 3, 4",
		"CREATE TABLE branch_daily AS SELECT branch, sales_date, sum(orders) AS orders, sum(items) AS items, sum(revenue) AS revenue, sum(revenue) FILTER (WHERE payment_method = 'CASH') AS cash, sum(revenue) FILTER (WHERE payment_method = 'CARD') AS card, round(sum(revenue) / sum(orders), 2) AS aov FROM order_sums GROUP BY 1, 2",
		"CREATE TABLE hourly AS SELECT branch, sales_date, hour, sum(orders) AS orders, sum(revenue) AS revenue FROM order_sums GROUP BY 1, 2, 3",
		"CREATE TABLE product_daily AS SELECT branch, sales_date, product, size, sum(quantity) AS quantity, sum(revenue) AS revenue FROM staging.transaction_item_sums GROUP BY 1, 2, 3, 4",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

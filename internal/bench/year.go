package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/loaders"
)

// yearShape is a year of ten branches' daily files, as
// `percolate generate --branches 10 --from 2022-01-01 --to 2022-12-31`
// writes them.
var yearShape = generate.Options{Layout: generate.LayoutA, Branches: generate.Branches(10),
	From: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), Orders: 300, Seed: 1}

// Timing is one timed job: its wall time, the CPU time of this process
// (the client), of the PostgreSQL server's processes when they run on
// this machine, and of the whole machine meanwhile. What the machine
// spent beyond the client and the server went to other processes: on a
// shared machine, its other tenants.
type Timing struct {
	Wall, ClientCPU, ServerCPU, MachineCPU time.Duration
	// WAL is the bytes of WAL the server wrote meanwhile (pg_stat_wal;
	// -1 where the server does not say).
	WAL int64
	// Phases is where the time went, for percolate's jobs.
	Phases []Phase
	// PeakRSS is this process's (the client's) peak resident memory
	// during the job, in bytes (0 where the kernel does not say).
	PeakRSS int64
}

// Phase is a named part of a job: loading, a model's build, the checks
// or the publish.
type Phase struct {
	Name     string
	Duration time.Duration
	Model    bool // a model's build, where the others are a job's parts
}

// YearResult is what Year measured, per job, one Timing per run.
type YearResult struct {
	Files, Orders int
	Copy          []Timing
	Backfill      []Timing
	Run           []Timing
	Floor         []Floor
	// Parse is the client's CPU to read, type, scrub, hash, explode and
	// encode every row of the year, without a database (loaders.Parse).
	Parse time.Duration
}

// Year times the whole job on a year of ten branches: percolate backfill
// and percolate run, each into an empty database, beside psql copying the
// same raw rows as one stream (cat *.csv | psql -c '\copy raw FROM STDIN
// CSV') on the same server, alternating, runs times each. It prints the
// medians, the ratios and where percolate's time went.
func Year(ctx context.Context, opt Options, runs int) (*YearResult, error) {
	dir := filepath.Join(opt.DataDir, "year")
	files, err := yearFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("bench year: %w", err)
	}
	res := &YearResult{Files: len(files)}
	fmt.Fprintf(opt.Out, "year: %d files in %s; %d run(s) of each job, alternating, each into an empty database\n", len(files), dir, runs)
	sources := yearSources(dir)
	for i := range runs {
		u, err := freshDB(ctx, opt.URL, "bench_psql")
		if err != nil {
			return nil, fmt.Errorf("bench year: %w", err)
		}
		t, rows, err := timed(ctx, opt.URL, func() (int64, []Phase, error) { return psqlStream(ctx, u, files) })
		if err != nil {
			return nil, fmt.Errorf("psql: %w", err)
		}
		res.Orders = int(rows)
		res.Copy = append(res.Copy, t)
		for _, job := range []struct {
			db  string
			run func(*pgxpool.Pool) ([]*project.Summary, error)
			out *[]Timing
		}{
			{"bench_backfill", func(pool *pgxpool.Pool) ([]*project.Summary, error) {
				rep, err := opt.Project.Backfill(ctx, pool, project.BackfillOptions{From: yearShape.From, To: yearShape.To,
					RunOptions: project.RunOptions{Jobs: opt.Jobs, BuildJobs: opt.BuildJobs, Sources: sources}})
				if err != nil {
					return nil, err
				}
				return rep.Runs, nil
			}, &res.Backfill},
			{"bench_run", func(pool *pgxpool.Pool) ([]*project.Summary, error) {
				sum, err := opt.Project.Run(ctx, pool, project.RunOptions{Jobs: opt.Jobs, BuildJobs: opt.BuildJobs, Sources: sources})
				return []*project.Summary{sum}, err
			}, &res.Run},
		} {
			pool, done, err := emptyDB(ctx, opt.URL, job.db)
			if err != nil {
				return nil, fmt.Errorf("bench year: %w", err)
			}
			dbURL := pool.Config().ConnString()
			t, _, err := timed(ctx, opt.URL, func() (int64, []Phase, error) {
				runs, err := job.run(pool)
				if err != nil {
					return 0, nil, err
				}
				return orders(runs), phases(runs), nil
			})
			done()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", job.db, err)
			}
			*job.out = append(*job.out, t)
			if job.db == "bench_run" {
				fl, err := floor(ctx, opt.URL, dbURL)
				if err != nil {
					return nil, fmt.Errorf("floor: %w", err)
				}
				res.Floor = append(res.Floor, fl)
			}
		}
		fmt.Fprintf(opt.Out, "  run %d: psql %s, backfill %s, run %s\n", i+1, secs(res.Copy[i].Wall), secs(res.Backfill[i].Wall), secs(res.Run[i].Wall))
	}
	if res.Parse, err = clientFloor(opt.Project, files); err != nil {
		return nil, fmt.Errorf("the client's floor: %w", err)
	}
	res.print(opt.Out)
	return res, nil
}

// clientFloor is the CPU the loader's own work on files takes, on one
// core, with no database: what a load costs the client at the least.
func clientFloor(p *project.Folder, files []string) (time.Duration, error) {
	pl, err := p.Config.Pipeline("")
	if err != nil {
		return 0, err
	}
	src := pl.Sources["transactions"]
	if src == nil {
		return 0, errors.New("the pipeline has no source transactions")
	}
	start := selfCPU()
	if _, err := loaders.Parse(src, []byte("bench key"), files); err != nil {
		return 0, err
	}
	return selfCPU() - start, nil
}

func (r *YearResult) print(w io.Writer) {
	cp := median(r.Copy)
	fmt.Fprintf(w, "  %-58s %8s   %s\n", "psql \\copy, one stream (raw CSV, 7 text columns)", secs(cp.Wall), cpuLine(cp))
	for _, job := range []struct {
		name string
		t    []Timing
	}{{"percolate backfill (load, every model, checks, publish)", r.Backfill}, {"percolate run", r.Run}} {
		m := median(job.t)
		fmt.Fprintf(w, "  %-58s %8s   %s, client peak RSS %d MiB   = %.2f× psql\n", job.name, secs(m.Wall), cpuLine(m), m.PeakRSS>>20, m.Wall.Seconds()/cp.Wall.Seconds())
		var parts []string
		for _, p := range m.Phases {
			if p.Model && p.Duration < 50*time.Millisecond {
				continue // the small models, to keep the line short
			}
			parts = append(parts, p.Name+" "+secs(p.Duration))
		}
		fmt.Fprintf(w, "      %s\n", strings.Join(parts, " · "))
	}
	var write, sums, core []time.Duration
	var coreRows int64
	for _, f := range r.Floor {
		write, sums, core = append(write, f.Write), append(sums, f.Sums), append(core, f.Core)
		coreRows = f.CoreRows
	}
	slices.Sort(write)
	slices.Sort(sums)
	slices.Sort(core)
	if n := len(write); n > 0 {
		w0, s0, c0 := write[n/2], sums[n/2], core[n/2]
		server := w0 + c0 + s0
		fmt.Fprintf(w, "  the server's floor, one connection: write the typed rows (binary COPY, %s) + the keyed tables' %d rows and their indexes (%s) + dedup and marts' sums (%s) = %s = %.2f× psql\n",
			secs(w0), coreRows, secs(c0), secs(s0), secs(server), server.Seconds()/cp.Wall.Seconds())
		if r.Parse > 0 {
			cores := time.Duration(runtime.NumCPU())
			job, load := (server+r.Parse)/cores, (w0+r.Parse)/cores
			fmt.Fprintf(w, "  the client's floor, one core, no database (read, type, scrub, hash, explode, encode every row): %s\n", secs(r.Parse))
			fmt.Fprintf(w, "  the machine's floor, %d cores busy all the time: (server %s + client %s) / %d = %s = %.2f× psql\n",
				cores, secs(server), secs(r.Parse), cores, secs(job), job.Seconds()/cp.Wall.Seconds())
			fmt.Fprintf(w, "  the load's floor the same way: (write %s + client %s) / %d = %s: at best %.2f× psql's rows/s\n",
				secs(w0), secs(r.Parse), cores, secs(load), cp.Wall.Seconds()/load.Seconds())
		}
	}
	fmt.Fprintf(w, "  %d orders; medians of %d\n", r.Orders, len(r.Copy))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// median is the run with the median wall time.
func median(ts []Timing) Timing {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b Timing) int { return int(a.Wall - b.Wall) })
	return s[len(s)/2]
}

// timed runs job and measures it. The server first writes out what the
// jobs before left dirty, and so does the kernel: each job pays for its
// own writes only.
func timed(ctx context.Context, server string, job func() (int64, []Phase, error)) (Timing, int64, error) {
	pm, err := settle(ctx, server)
	if err != nil {
		return Timing{}, 0, err
	}
	wal0 := walBytes(ctx, server)
	resetPeakRSS()
	cpu0, server0, busy0 := selfCPU(), serverCPU(pm), machineBusy()
	start := time.Now()
	n, ph, err := job()
	t := Timing{Wall: time.Since(start), ClientCPU: selfCPU() - cpu0, ServerCPU: serverCPU(pm) - server0, MachineCPU: machineBusy() - busy0, Phases: ph, WAL: -1,
		PeakRSS: peakRSS()}
	if wal1 := walBytes(ctx, server); wal0 >= 0 && wal1 >= 0 {
		t.WAL = wal1 - wal0
	}
	return t, n, err
}

// walBytes is how much WAL the server has written since its statistics
// were reset (the whole server's, pg_stat_wal), or -1 when it cannot say.
func walBytes(ctx context.Context, server string) int64 {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT wal_bytes::bigint FROM pg_stat_wal").Scan(&n); err != nil {
		return -1
	}
	return n
}

// serverCPU is the CPU time the server whose postmaster is pm has used:
// the postmaster's, the exited backends' it has reaped (utime, stime,
// cutime and cstime of /proc/PID/stat) and its live children's. Other
// PostgreSQL servers on the machine, and processes that are not the
// server's, count as other. 0 when the server is not on this machine.
func serverCPU(pm int) time.Duration {
	if pm == 0 {
		return 0
	}
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		ppid, cpu, ok := procStat(pid)
		if !ok || pid != pm && ppid != pm {
			continue
		}
		ticks += cpu
	}
	return time.Duration(ticks) * (time.Second / 100)
}

// procStat reads a process's parent and the CPU ticks it and its reaped
// children have used.
func procStat(pid int) (ppid int, ticks int64, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid …: comm may hold spaces; fields after it.
	stat := string(b)
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	for _, v := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return ppid, ticks, true
}

// cpuLine says where a job's CPU went.
func cpuLine(t Timing) string {
	other := max(0, t.MachineCPU-t.ClientCPU-t.ServerCPU)
	line := fmt.Sprintf("client CPU %s, server %s, other %s", secs(t.ClientCPU), secs(t.ServerCPU), secs(other))
	if t.WAL >= 0 {
		line += fmt.Sprintf(", WAL %d MB", t.WAL>>20)
	}
	return line
}

// settle waits for the server's autovacuum workers to be done, has it
// write out what it holds dirty (a checkpoint), and the kernel too, and
// returns the server's postmaster's process id when it
// runs on this machine (the parent of the backend settle talked to), else 0.
func settle(ctx context.Context, server string) (int, error) {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if err := vacuumsDone(ctx, conn); err != nil {
		return 0, err
	}
	// Without the privilege (pg_checkpoint), the kernel's flush must do.
	var pgErr *pgconn.PgError
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42501") {
		return 0, err
	}
	syscall.Sync()
	// The backend, if it is a process of this machine (another machine's
	// pid may be anything here): PostgreSQL's, child of a postmaster.
	pid := int(conn.PgConn().PID())
	ppid, _, ok := procStat(pid)
	if !ok || !isPostgres(pid) || !isPostgres(ppid) {
		return 0, nil
	}
	return ppid, nil
}

// vacuumsDone waits, up to a minute, for the server's autovacuum workers
// to finish what the jobs before left them (the tables of a database a
// job filled), so that the next job does not share the cores with them.
func vacuumsDone(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`).Scan(&n); err != nil {
			return err
		}
		if n == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isPostgres says whether process pid runs PostgreSQL's server binary.
func isPostgres(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return err == nil && strings.HasPrefix(filepath.Base(string(bytes.SplitN(b, []byte{0}, 2)[0])), "postgres")
}

// selfCPU is the CPU time of this process and the children it has
// waited for (psql and cat, for the yardstick).
func selfCPU() time.Duration {
	var d time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		syscall.Getrusage(who, &ru)
		d += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return d
}

// machineBusy is the CPU time all processes have used, from /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		var n int64
		fmt.Sscan(v, &n)
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100)
}

func orders(runs []*project.Summary) int64 {
	var n int64
	for _, r := range runs {
		loaded, _, _ := r.Rows()
		n += loaded
	}
	return n
}

// phases adds up where runs spent their time: loading, each model
// (however short: a distributed engine is compared model by model),
// checks, publish.
func phases(runs []*project.Summary) []Phase {
	var load, check, publish time.Duration
	models := map[string]time.Duration{}
	var order []string
	for _, r := range runs {
		load += r.Loading
		if r.Build == nil {
			continue
		}
		check += r.Build.Checking
		publish += r.Build.Publishing
		for _, b := range r.Build.Built {
			if _, ok := models[b.Model.Name]; !ok {
				order = append(order, b.Model.Name)
			}
			models[b.Model.Name] += b.Duration
		}
	}
	out := []Phase{{Name: "load", Duration: load}}
	for _, m := range order {
		out = append(out, Phase{Name: m, Duration: models[m], Model: true})
	}
	return append(out, Phase{Name: "checks", Duration: check}, Phase{Name: "publish", Duration: publish})
}

// yearFiles writes the year's files once and lists them.
func yearFiles(dir string) ([]string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	want := len(yearShape.Branches) * (int(yearShape.To.Sub(yearShape.From).Hours()/24) + 1)
	if len(files) != want {
		os.RemoveAll(dir)
		opt := yearShape
		opt.Dir = dir
		if _, err := generate.Write(opt); err != nil {
			return nil, err
		}
		files, _ = filepath.Glob(filepath.Join(dir, "*.csv"))
	}
	return files, nil
}

// yearSources are the project's sources as the year's jobs load them: the
// year's files, and no file of the other layout.
func yearSources(dir string) map[string]string {
	return map[string]string{"transactions": filepath.Join(dir, "*.csv"), "legacy_transactions": filepath.Join(dir, "none-*.csv")}
}

// emptyDB makes a fresh database on the server of base and connects to it.
func emptyDB(ctx context.Context, base, name string) (*pgxpool.Pool, func(), error) {
	u, err := freshDB(ctx, base, name)
	if err != nil {
		return nil, nil, err
	}
	pool, err := pg.Connect(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	return pool, pool.Close, nil
}

// Package pg connects Percolate to PostgreSQL: a server named by URL, or the
// local cluster that Percolate creates and keeps itself from the machine's
// PostgreSQL binaries (the embedded default).
package pg

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned when no PostgreSQL server binaries can be found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin; install them with: apt-get install -y postgresql")

// Database is the name of the database Percolate creates in its own cluster.
const Database = "percolate"

const superuser = "percolate"

// Cluster is a PostgreSQL cluster owned by Percolate. Its files live under
// Dir: the data directory, the port and password it was given, and the
// server log. It listens on 127.0.0.1 only and has no Unix socket, so it
// never collides with a system PostgreSQL.
type Cluster struct {
	Dir string
	// Durable keeps fsync on. Test clusters turn it off: they are thrown away.
	Durable bool
	// Extra settings follow the cluster's own (and win over them): the
	// nodes of a test Citus cluster preload citus, say.
	Extra []Setting

	bin  string
	cred *syscall.Credential
}

// NewCluster returns the cluster kept under dir, which need not exist yet.
// It finds the PostgreSQL binaries and, when running as root, the
// unprivileged user the server will run as (PostgreSQL refuses root); when
// that user cannot reach dir (a folder under root's 0700 home), the
// cluster is kept under Moved instead, and Dir says where.
func NewCluster(dir string) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, Durable: true, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root: PostgreSQL will not run as root and there is no \"postgres\" user to run it as (create one with: useradd --system postgres): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		c.Dir = c.reachable(abs)
	}
	if c.bin, err = binariesFor(dataVersion(c.dataDir()), bin, "/usr/lib/postgresql"); err != nil {
		return nil, fmt.Errorf("embedded database in %s: %w", c.Dir, err)
	}
	return c, nil
}

// dataVersion is the major version of PostgreSQL a data directory was
// made by, or 0 when there is none.
func dataVersion(data string) int {
	b, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// binariesFor is the binaries folder to run a data directory of major
// version want with: found, when it is that version (or want is 0, no
// data yet), else that version's folder under lib. A server refuses the
// data of another major version, so after an upgrade of the machine's
// PostgreSQL the cluster keeps running on its own version while it is
// installed, and says what to do when it is not.
func binariesFor(want int, found, lib string) (string, error) {
	have := version(found)
	if want == 0 || have == want || have == 0 {
		return found, nil
	}
	own := filepath.Join(lib, strconv.Itoa(want), "bin")
	if _, err := os.Stat(filepath.Join(own, "initdb")); err == nil {
		return own, nil
	}
	return "", fmt.Errorf("its data is PostgreSQL %d and this machine has PostgreSQL %d (%s): install PostgreSQL %d beside it (apt-get install -y postgresql-%d), or stop it and move its folder aside to start an empty one (its files would need loading again)",
		want, have, found, want, want)
}

// Moved is where a cluster lives whose folder the server's user cannot
// reach (root's home is 0700): one folder per project folder, named by a
// hash of its path.
const Moved = "/var/lib/percolate"

// reachable is dir, or, when the server's user cannot reach it and it
// holds no cluster already, its folder under Moved. A cluster once moved
// stays there.
func (c *Cluster) reachable(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	moved := filepath.Join(Moved, hex.EncodeToString(sum[:8]))
	switch {
	case exists(filepath.Join(moved, "data", "PG_VERSION")):
		return moved
	case exists(filepath.Join(dir, "data", "PG_VERSION")):
		return dir
	}
	near := dir
	for !exists(near) && filepath.Dir(near) != near {
		near = filepath.Dir(near)
	}
	if c.run(context.Background(), "", "/usr/bin/test", "-x", near) == nil {
		return dir
	}
	return moved
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// FindBinaries returns the directory that holds initdb, pg_ctl and postgres:
// from PATH first, else the newest /usr/lib/postgresql/*/bin.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "server.log") }

// Running reports whether the cluster's server is up.
func (c *Cluster) Running(ctx context.Context) bool {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		return false
	}
	return c.pgctl(ctx, "status", "-D", c.dataDir()) == nil
}

// Start creates the cluster if it does not exist and starts it if it is not
// running. As root, a cluster whose folder the postgres user cannot reach
// is made under Moved instead (see NewCluster). It is safe to call while another process does the same: a file
// lock under Dir serialises them, and the loser finds the server up.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.start(ctx); err != nil {
		return fmt.Errorf("start PostgreSQL in %s: %w", c.Dir, err)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(c.Dir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()

	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	if c.Running(ctx) {
		return nil
	}
	args, err := c.serverArgs()
	if err != nil {
		return err
	}
	if err := c.pgctl(ctx, "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(), "-o", shellQuote(args)); err != nil {
		return fmt.Errorf("pg_ctl start (its log: %s): %w", c.logFile(), err)
	}
	return c.ensureDatabase(ctx)
}

// Stop stops the server if it runs.
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.Running(ctx) {
		return nil
	}
	return c.pgctl(ctx, "stop", "-w", "-m", "fast", "-D", c.dataDir())
}

// socketDir is the folder of the cluster's Unix socket, made for the
// server's user; empty when its path would be too long for a socket
// (about 100 bytes), and the cluster is reached by TCP only.
func (c *Cluster) socketDir(port int) (string, error) {
	dir := filepath.Join(c.Dir, "run")
	if len(dir)+len(fmt.Sprintf("/.s.PGSQL.%d", port)) >= 100 {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, c.chown(dir)
}

// LocalURL is URL through the cluster's Unix socket when it has one: a
// local client skips TCP, which costs the server a tenth of its time in
// a bulk load.
func (c *Cluster) LocalURL() (string, error) {
	u, err := c.URL()
	if err != nil {
		return "", err
	}
	port, err := os.ReadFile(filepath.Join(c.Dir, "port"))
	if err != nil {
		return "", err
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(port)))
	dir := filepath.Join(c.Dir, "run")
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", p))); err != nil {
		return u, nil
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := parsed.Query()
	q.Set("host", dir)
	q.Set("port", strconv.Itoa(p))
	parsed.Host, parsed.RawQuery = "", q.Encode()
	return parsed.String(), nil
}

// URL is the connection URL of the cluster's percolate database.
func (c *Cluster) URL() (string, error) {
	pw, err := os.ReadFile(filepath.Join(c.Dir, "password"))
	if err != nil {
		return "", fmt.Errorf("embedded database in %s is not initialised (run: percolate db start): %w", c.Dir, err)
	}
	port, err := os.ReadFile(filepath.Join(c.Dir, "port"))
	if err != nil {
		return "", fmt.Errorf("embedded database in %s has never started (run: percolate db start): %w", c.Dir, err)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, strings.TrimSpace(string(pw))),
		Host:     "127.0.0.1:" + strings.TrimSpace(string(port)),
		Path:     "/" + Database,
		RawQuery: "sslmode=disable",
	}
	return u.String(), nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	if err := os.RemoveAll(c.dataDir()); err != nil {
		return err
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	password := hex.EncodeToString(pw)
	if err := os.WriteFile(filepath.Join(c.Dir, "password"), []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	pwfile := filepath.Join(c.Dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := os.Mkdir(c.dataDir(), 0o700); err != nil {
		return err
	}
	if err := c.chown(pwfile, c.dataDir(), c.Dir); err != nil {
		return err
	}
	if c.cred != nil {
		// The server runs as another user, who must be able to reach Dir.
		if err := c.run(ctx, "", "/usr/bin/test", "-r", pwfile); err != nil {
			return fmt.Errorf("the postgres user cannot reach %s: let it through the folders above (chmod o+x on each)", c.Dir)
		}
	}
	args := []string{"-D", c.dataDir(), "-U", superuser, "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--no-locale"}
	if !c.Durable {
		args = append(args, "--no-sync")
	}
	if err := c.run(ctx, "initdb", args...); err != nil {
		os.RemoveAll(c.dataDir())
		return fmt.Errorf("initdb in %s: %w", c.dataDir(), err)
	}
	return nil
}

// choosePort keeps the port the cluster had, unless something else took it.
func (c *Cluster) choosePort() (int, error) {
	file := filepath.Join(c.Dir, "port")
	if b, err := os.ReadFile(file); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && portFree(p) {
			return p, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p, os.WriteFile(file, []byte(strconv.Itoa(p)+"\n"), 0o644)
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// removeStalePID deletes a postmaster.pid left by a crash when its pid now
// belongs to some other process, which would make PostgreSQL refuse to start.
func (c *Cluster) removeStalePID() {
	file := filepath.Join(c.dataDir(), "postmaster.pid")
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		os.Remove(file)
		return
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
		os.Remove(file)
	}
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	u, err := c.URL()
	if err != nil {
		return err
	}
	admin := strings.Replace(u, "/"+Database+"?", "/postgres?", 1)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize())
	return err
}

func (c *Cluster) pgctl(ctx context.Context, args ...string) error {
	return c.run(ctx, "pg_ctl", args...)
}

// run runs a PostgreSQL program of c.bin, or with name "" the program at
// args[0], as the server's user.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	prog := filepath.Join(c.bin, name)
	if name == "" {
		prog, args = args[0], args[1:]
		name = filepath.Base(prog)
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// chown hands the paths to the server's user when running as root.
func (c *Cluster) chown(paths ...string) error {
	if c.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Kill stops the server at once, as a crash or a power cut would: no
// checkpoint, and WAL not yet written is lost (pg_ctl stop -m immediate).
// The next Start recovers from the WAL.
func (c *Cluster) Kill(ctx context.Context) error {
	return c.pgctl(ctx, "stop", "-w", "-m", "immediate", "-D", c.dataDir())
}

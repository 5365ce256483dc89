package pg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Command creates the cluster if it does not exist, gives it a port, and
// returns the command that runs its server in the foreground: the
// postmaster is the command's own process, not a daemon of pg_ctl's, so
// a caller can make it die with itself (a test harness sets Pdeathsig).
// The server logs to the command's Stderr; it is ready once URL connects.
// Unlike Start it does not wait for the server nor make the percolate
// database; the postgres database is there to connect to.
func (c *Cluster) Command(ctx context.Context) (*exec.Cmd, error) {
	cmd, err := c.command(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare PostgreSQL in %s: %w", c.Dir, err)
	}
	return cmd, nil
}

func (c *Cluster) command(ctx context.Context) (*exec.Cmd, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(c.Dir, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); os.IsNotExist(err) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if c.Running(ctx) {
		return nil, fmt.Errorf("PostgreSQL in %s is running already", c.Dir)
	}
	args, err := c.serverArgs()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), append([]string{"-D", c.dataDir()}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd, nil
}

// serverArgs are the server's command-line options: its port (chosen),
// socket, settings and Extra, one argument each.
func (c *Cluster) serverArgs() ([]string, error) {
	c.removeStalePID()
	port, err := c.choosePort()
	if err != nil {
		return nil, err
	}
	socket, err := c.socketDir(port)
	if err != nil {
		return nil, err
	}
	args := []string{"-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + socket}
	extra := map[string]bool{}
	for _, s := range c.Extra {
		extra[s.Name] = true
	}
	for _, s := range c.Settings() {
		if !extra[s.Name] { // one value each in ps and the log
			args = append(args, "-c", s.Name+"="+s.Value)
		}
	}
	for _, s := range c.Extra {
		args = append(args, "-c", s.Name+"="+s.Value)
	}
	if !c.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	return args, nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_=./:,+-]+$`)

// shellQuote joins args for pg_ctl's -o, which a shell splits again.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if shellSafe.MatchString(a) {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

package project

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/percolate/percolate/internal/pg"
)

// Cluster is the embedded PostgreSQL cluster a project keeps under
// .percolate/pg (see pg.Cluster).
type Cluster = pg.Cluster

// Redact masks the password in a database URL: a terminal's scrollback, a
// CI log or a screen share keeps what is printed.
func Redact(url string) string { return pg.Redact(url) }

// Psql is the command that opens psql on the project's database (starting
// the embedded one if needed), with args after the URL. The password goes
// by PGPASSWORD: a command line is public to every user of the machine
// (ps, /proc).
func (p *Folder) Psql(ctx context.Context, args []string) (*exec.Cmd, error) {
	u, err := p.DatabaseURL(ctx)
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("psql")
	if err != nil {
		dir, derr := pg.FindBinaries()
		if derr != nil {
			return nil, fmt.Errorf("psql not found: install it with: apt-get install -y postgresql-client")
		}
		bin = filepath.Join(dir, "psql")
	}
	u, pw := pg.SplitPassword(u)
	c := exec.CommandContext(ctx, bin, append([]string{u}, args...)...)
	if pw != "" {
		c.Env = append(os.Environ(), "PGPASSWORD="+pw)
	}
	return c, nil
}

package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

// serverLog reads what the test server logged from offset on, and where
// it ends: the server's log is server.log beside its data directory (how
// pg.Cluster keeps it).
type serverLog struct {
	t    *testing.T
	path string
}

func openServerLog(t *testing.T, url string) *serverLog {
	t.Helper()
	dataDir := scalar[string](t, connect(t, url), "SHOW data_directory")
	path := filepath.Join(filepath.Dir(dataDir), "server.log")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the test server's log: %v", err)
	}
	return &serverLog{t, path}
}

func (l *serverLog) end() int {
	fi, err := os.Stat(l.path)
	if err != nil {
		l.t.Fatal(err)
	}
	return int(fi.Size())
}

func (l *serverLog) since(offset int) string {
	b, err := os.ReadFile(l.path)
	if err != nil {
		l.t.Fatal(err)
	}
	return string(b[offset:])
}

func secret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// asRole is url with another user and password.
func asRole(t *testing.T, u, user, pw string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.UserPassword(user, pw)
	return p.String()
}

// TestReaderPasswordNeverInClear: with log_statement = all, the reader's
// password never reaches the server's log, the role logs in with it, and
// a second migrate up or run does not set it again.
func TestReaderPasswordNeverInClear(t *testing.T) {
	dir := tempProject(t)
	u := pgtest.URL(t)
	ctx := context.Background()
	db := strings.TrimPrefix(mustParse(t, u).Path, "/")
	if _, err := connect(t, u).Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" SET log_statement = 'all'"); err != nil {
		t.Fatal(err)
	}
	log := openServerLog(t, u)
	pw := secret(t, "reader pw ")
	t.Setenv(EnvReaderPassword, pw)

	start := log.end()
	mustRun(t, dir, u, "migrate", "up")
	first := log.since(start)
	if strings.Contains(first, pw) {
		t.Fatalf("the server's log holds the reader's password")
	}
	if !strings.Contains(first, "ALTER ROLE percolate_grafana PASSWORD 'SCRAM-SHA-256$4096:") {
		t.Fatalf("the server's log has no ALTER ROLE with a SCRAM verifier: is log_statement = all in force?\n%s", first)
	}
	var who string
	if err := connect(t, asRole(t, u, "percolate_grafana", pw)).QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != "percolate_grafana" {
		t.Fatalf("log in as percolate_grafana with its password: %q, %v", who, err)
	}

	again := log.end()
	none := filepath.Join(t.TempDir(), "*.csv")
	mustRun(t, dir, u, "migrate", "up")
	// With no file, the run's checks fail (exit 1), after the run set up.
	if r := percolate(t, dir, u, "run", "--source", "transactions="+none, "--source", "legacy_transactions="+none); !strings.Contains(r.stderr, "loaded      0 files") {
		t.Fatalf("a run with no file: exit %d\n%s", r.code, r.stderr)
	}
	if got := log.since(again); strings.Contains(got, "ALTER ROLE") || strings.Contains(got, pw) {
		t.Fatalf("a second migrate up and a run set the unchanged password again:\n%s", linesWith(got, "ALTER ROLE"))
	}

	t.Run("loader without CREATEROLE", func(t *testing.T) {
		readerWithoutCreateRole(t, u, log, pw)
	})
}

func mustParse(t *testing.T, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readerWithoutCreateRole: a loader that may not read pg_authid nor set
// passwords keeps a password that works, and is refused a new one with
// an error naming the privilege; neither password reaches the log. Given
// CREATEROLE and ADMIN OPTION, it sets the new one, once.
func readerWithoutCreateRole(t *testing.T, u string, log *serverLog, pw string) {
	ctx := context.Background()
	admin := connect(t, u)
	loader := "loader_" + secret(t, "")
	loaderPW := secret(t, "")
	for _, sql := range []string{
		"CREATE ROLE " + loader + " LOGIN PASSWORD '" + loaderPW + "'",
		"GRANT USAGE ON SCHEMA percolate TO " + loader,
		"GRANT SELECT, INSERT, UPDATE ON percolate.settings TO " + loader,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		admin.Exec(ctx, "DROP OWNED BY "+loader)
		admin.Exec(ctx, "DROP ROLE "+loader)
	})
	pool := connect(t, asRole(t, u, loader, loaderPW))
	set := func(pw string) error {
		t.Helper()
		p, err := project.Open(root, project.Options{HashKey: "cli test key", ReaderPassword: pw})
		if err != nil {
			t.Fatal(err)
		}
		return p.SetReaderPassword(ctx, pool)
	}
	// The fingerprint the superuser's runs recorded is gone: the loader
	// finds the password set by logging in with it.
	if _, err := admin.Exec(ctx, "DELETE FROM percolate.settings WHERE name = 'reader_password_fingerprint'"); err != nil {
		t.Fatal(err)
	}
	start := log.end()
	if err := set(pw); err != nil {
		t.Fatalf("a loader without CREATEROLE, the password already set: %v", err)
	}
	if n := scalar[int](t, admin, "SELECT count(*) FROM percolate.settings WHERE name = 'reader_password_fingerprint'"); n != 1 {
		t.Fatalf("fingerprints recorded: got %d, want 1", n)
	}
	changed := secret(t, "new reader pw ")
	err := set(changed)
	if err == nil || !strings.Contains(err.Error(), "CREATEROLE") || strings.Contains(err.Error(), changed) {
		t.Fatalf("a new password without CREATEROLE: got %v, want an error naming CREATEROLE and not the password", err)
	}
	for _, sql := range []string{
		"ALTER ROLE " + loader + " CREATEROLE",
		"GRANT percolate_grafana TO " + loader + " WITH ADMIN OPTION",
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := set(changed); err != nil {
		t.Fatalf("with CREATEROLE: %v", err)
	}
	mid := log.end()
	if err := set(changed); err != nil {
		t.Fatal(err)
	}
	all := log.since(start)
	if strings.Contains(all, pw) || strings.Contains(all, changed) {
		t.Fatalf("the server's log holds a reader's password")
	}
	if strings.Count(all[:mid-start], "ALTER ROLE percolate_grafana PASSWORD") < 2 || strings.Contains(all[mid-start:], "ALTER ROLE") {
		t.Fatalf("want the refused and the permitted ALTER ROLE before, none after the second set:\n%s", linesWith(all, "ALTER ROLE"))
	}
	var who string
	if err := connect(t, asRole(t, u, "percolate_grafana", changed)).QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil {
		t.Fatalf("log in with the new password: %v", err)
	}
}

// TestNoPasswordPrinted: db status, db start and db url print the
// embedded cluster's URL with its password masked; db url
// --show-password prints it, and db psql still logs in.
func TestNoPasswordPrinted(t *testing.T) {
	dir := tempProject(t)
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDatabaseURL, "")
	run := func(args ...string) result {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"-C", dir}, args...), strings.NewReader(""), &out, &errOut)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return result{code, out.String(), errOut.String()}
	}
	t.Cleanup(func() {
		Run(context.Background(), []string{"-C", dir, "db", "stop"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	})
	started := run("db", "start")
	c, err := pg.NewCluster(filepath.Join(dir, ".percolate", "pg"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(c.Dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(b))
	for _, r := range []struct {
		name string
		out  result
	}{{"db start", started}, {"db status", run("db", "status")}, {"db url", run("db", "url")}} {
		if strings.Contains(r.out.stdout+r.out.stderr, pw) {
			t.Errorf("%s prints the password:\n%s", r.name, r.out.stdout)
		}
		if !strings.Contains(r.out.stdout, "postgres://percolate:xxxxx@127.0.0.1:") {
			t.Errorf("%s: got %q, want the URL with its password masked", r.name, r.out.stdout)
		}
	}
	if got := run("db", "url", "--show-password").stdout; !strings.Contains(got, "percolate:"+pw+"@") {
		t.Errorf("db url --show-password: got %q, want the password", got)
	}
	if got := run("db", "psql", "--", "-At", "-c", "SELECT current_user").stdout; strings.TrimSpace(got) != "percolate" {
		t.Errorf("db psql: got %q, want percolate", got)
	}
}

// TestScramMatchesTheServers: a verifier PostgreSQL made itself is told
// apart by pg.ScramMatches, which the reader's "unchanged" check uses.
func TestScramMatchesTheServers(t *testing.T) {
	admin := connect(t, pgtest.URL(t))
	role, pw := "scram_"+secret(t, ""), secret(t, "pw ")
	if _, err := admin.Exec(context.Background(), "SET password_encryption = 'scram-sha-256'; CREATE ROLE "+role+" PASSWORD '"+pw+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP ROLE "+role) })
	v := scalar[string](t, admin, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
	if !pg.ScramMatches(v, pw) || pg.ScramMatches(v, pw+"x") {
		t.Errorf("ScramMatches(%q): got %v for its password and %v for another, want true and false", v, pg.ScramMatches(v, pw), pg.ScramMatches(v, pw+"x"))
	}
}

func linesWith(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

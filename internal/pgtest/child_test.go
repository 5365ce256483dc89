package pgtest

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// envChild makes TestChild report this binary's server and wait to be
// killed.
const envChild = "PGTEST_CHILD"

// TestChild is the killed test binary of TestKilledBinary: it prints its
// server's pid, address and folder, and waits for its stdin to close.
func TestChild(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("run by TestKilledBinary")
	}
	u, err := url.Parse(own.admin)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("server %d %s %s\n", own.child.Cmd.Process.Pid, u.Host, own.child.rec.Dirs[0])
	done := make(chan struct{})
	go func() { bufio.NewReader(os.Stdin).ReadByte(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
	}
}

// TestKilledBinary: a test binary that is killed (SIGKILL, SIGTERM,
// SIGINT) or times out leaves no server running. Its server dies with it
// (Pdeathsig); one that outlived it (started without Pdeathsig here) is
// stopped by the next binary's start-up, and either way that start-up
// removes the cluster's folder.
func TestKilledBinary(t *testing.T) {
	signal := func(sig syscall.Signal) func(*exec.Cmd) error {
		return func(c *exec.Cmd) error { return c.Process.Signal(sig) }
	}
	for _, tc := range []struct {
		name string
		args []string
		end  func(*exec.Cmd) error // ends the binary
		keep bool                  // started without Pdeathsig: the server outlives it
	}{
		{"SIGKILL", nil, signal(syscall.SIGKILL), false},
		{"SIGTERM", nil, signal(syscall.SIGTERM), false},
		{"SIGINT", nil, signal(syscall.SIGINT), false},
		{"timed out", []string{"-test.timeout=1s"}, func(*exec.Cmd) error { return nil }, false},
		{"SIGKILL, server outlives its binary", nil, signal(syscall.SIGKILL), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			records := t.TempDir()
			t.Cleanup(func() { Sweep(records) }) // whatever a failure left
			var env []string
			for _, e := range os.Environ() {
				if !strings.HasPrefix(e, EnvURL+"=") { // the children start clusters of their own
					env = append(env, e)
				}
			}
			env = append(env, EnvRecords+"="+records) // the last wins
			child := exec.Command(os.Args[0], append([]string{"-test.run=^TestChild$"}, tc.args...)...)
			child.Env = append(env, envChild+"=1")
			if tc.keep {
				child.Env = append(child.Env, envKeep+"=1")
			}
			pid, addr, dir := startChildBinary(t, child)
			start := startTime(pid)
			if !alive(pid, start) || !listening(addr) {
				t.Fatalf("the child's server (pid %d, %s) is not up before the kill", pid, addr)
			}
			if err := tc.end(child); err != nil {
				t.Fatal(err)
			}
			waitExit(t, child)
			if tc.keep {
				if !alive(pid, start) || !listening(addr) {
					t.Fatalf("server %d on %s: got gone with its binary, want it up (started without Pdeathsig)", pid, addr)
				}
			} else {
				Eventually(t, time.Minute, "the server to die with its binary", func() bool { return !alive(pid, start) && !listening(addr) })
			}
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("the killed binary's cluster folder: %v, want it left for the sweep", err)
			}

			next := exec.Command(os.Args[0], "-test.run=^$")
			next.Env = env
			out, err := next.CombinedOutput()
			if err != nil {
				t.Fatalf("the next test binary: %v\n%s", err, out)
			}
			if said := fmt.Sprintf("pgtest: stopped process %d of test binary %d", pid, child.Process.Pid); tc.keep != strings.Contains(string(out), said) {
				t.Errorf("the next test binary said:\n%s\nwant %q there: %v", out, said, tc.keep)
			}
			if alive(pid, start) {
				t.Errorf("server pid %d: got running after the next start-up, want gone", pid)
			}
			if listening(addr) {
				t.Errorf("%s: got a server listening after the next start-up, want the port refused", addr)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("cluster folder %s: got %v after the next start-up, want it removed", dir, err)
			}
			if left, _ := filepath.Glob(filepath.Join(records, "*")); len(left) != 0 {
				t.Errorf("records after the next start-up: got %v, want none", left)
			}
		})
	}
}

// waitExit waits a minute at most for the child binary to end.
func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the child binary did not end within a minute")
	}
}

// startChildBinary starts a test binary running TestChild and returns
// what it reports of its server.
func startChildBinary(t *testing.T, cmd *exec.Cmd) (pid int, addr, dir string) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe() // held open: the child waits on it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, err := fmt.Sscanf(sc.Text(), "server %d %s %s", new(int), new(string), new(string)); err == nil {
				line <- sc.Text()
				return
			}
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatal("the child binary ended without reporting its server")
		}
		fmt.Sscanf(l, "server %d %s %s", &pid, &addr, &dir)
	case <-time.After(2 * time.Minute):
		t.Fatal("the child binary reported no server within two minutes")
	}
	return pid, addr, dir
}

// listening reports whether something takes connections at addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

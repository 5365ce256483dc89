package pgtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A test binary's servers (PostgreSQL, Citus nodes, versitygw) are its own
// child processes, made to die with it: Pdeathsig reaches them when the
// binary times out, panics or is killed. Each is also recorded in a file
// under Records, naming the binary, the server and the folders to remove,
// and every test binary's start-up sweeps the records whose binary is gone:
// whatever outlived it is signalled and its folders removed.

// EnvRecords names the folder of the records instead of one under the
// temporary folder (a test of the sweep uses its own).
const EnvRecords = "PERCOLATE_TEST_RECORDS"

// envKeep, set, starts children without Pdeathsig: the sweep's test makes
// a server outlive its binary with it.
const envKeep = "PERCOLATE_TEST_KEEP_CHILDREN"

// Records is the folder of the records of running test servers.
func Records() string {
	if d := os.Getenv(EnvRecords); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("percolate-test-servers-%d", os.Getuid()))
}

// record is what the sweep needs to stop a server whose binary is gone.
// A process is named by its pid and its start time, so that a pid reused
// by another process is never signalled.
type record struct {
	Owner      int      `json:"owner"`
	OwnerStart uint64   `json:"owner_start"`
	PID        int      `json:"pid"`
	Start      uint64   `json:"start"`
	Signal     int      `json:"signal"`
	Dirs       []string `json:"dirs"`
}

// Child is a server this test binary started and owns.
type Child struct {
	Cmd  *exec.Cmd
	sig  syscall.Signal
	rec  record
	file string
	done chan struct{}
	err  error // of Wait, once done is closed
}

// StartChild starts cmd as a child that dies with this binary, signalled
// sig (SIGQUIT: PostgreSQL's immediate shutdown), and records it with the
// folders to remove once it is gone.
func StartChild(cmd *exec.Cmd, sig syscall.Signal, dirs ...string) (*Child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if os.Getenv(envKeep) == "" {
		cmd.SysProcAttr.Pdeathsig = sig
	}
	ch := &Child{Cmd: cmd, sig: sig, done: make(chan struct{})}
	started := make(chan error, 1)
	// Pdeathsig follows the thread that forked the child, not the
	// process: that thread stays locked to this goroutine, alive until the
	// child ends.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		ch.err = cmd.Wait()
		close(ch.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	ch.rec = record{Owner: os.Getpid(), OwnerStart: startTime(os.Getpid()), PID: cmd.Process.Pid,
		Start: startTime(cmd.Process.Pid), Signal: int(sig), Dirs: dirs}
	if err := ch.write(); err != nil {
		ch.Stop()
		return nil, err
	}
	return ch, nil
}

func (ch *Child) write() error {
	dir := Records()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(ch.rec)
	if err != nil {
		return err
	}
	ch.file = filepath.Join(dir, fmt.Sprintf("%d-%d.json", ch.rec.Owner, ch.rec.PID))
	return os.WriteFile(ch.file, b, 0o644)
}

// Done is closed when the child has ended.
func (ch *Child) Done() <-chan struct{} { return ch.done }

// Stop signals the child, waits for it to end (a minute, then SIGKILL),
// and removes its folders and its record.
func (ch *Child) Stop() error {
	ch.Cmd.Process.Signal(ch.sig)
	select {
	case <-ch.done:
	case <-time.After(time.Minute):
		ch.Cmd.Process.Kill()
		<-ch.done
	}
	for _, d := range ch.rec.Dirs {
		os.RemoveAll(d)
	}
	if ch.file != "" {
		return os.Remove(ch.file)
	}
	return nil
}

// Sweep stops what the records say outlived a test binary and removes
// its folders. It returns a line for each server it stopped, and what it
// could not stop.
func Sweep(dir string) (stopped []string, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // swept by another binary starting now
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		if r.OwnerStart == 0 || alive(r.Owner, r.OwnerStart) {
			continue // alive, or not known to be gone
		}
		if alive(r.PID, r.Start) {
			if err := stop(r.PID, r.Start, syscall.Signal(r.Signal)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
				continue
			}
			stopped = append(stopped, fmt.Sprintf("process %d of test binary %d, which ended without stopping it (in %s)", r.PID, r.Owner, strings.Join(r.Dirs, ", ")))
		}
		for _, d := range r.Dirs {
			os.RemoveAll(d)
		}
		os.Remove(f)
	}
	return stopped, errors.Join(errs...)
}

// stop signals a process, if it is still the recorded one, and waits for
// it to end: half a minute, then SIGKILL and ten seconds more.
func stop(pid int, start uint64, sig syscall.Signal) error {
	for _, s := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{sig, 30 * time.Second}, {syscall.SIGKILL, 10 * time.Second}} {
		if !alive(pid, start) {
			return nil
		}
		if err := syscall.Kill(pid, s.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
		poll(s.wait, func() bool { return !alive(pid, start) })
	}
	if alive(pid, start) {
		return fmt.Errorf("process %d outlived SIGKILL", pid)
	}
	return nil
}

// alive reports whether pid runs and is the process that started at start
// (a zombie has ended).
func alive(pid int, start uint64) bool {
	state, st, ok := procStat(pid)
	return ok && st == start && state != "Z" && state != "X"
}

func startTime(pid int) uint64 {
	_, st, _ := procStat(pid)
	return st
}

// procStat reads a process's state and start time (in clock ticks since
// boot) from /proc/PID/stat.
func procStat(pid int) (state string, start uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", 0, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return f[0], start, err == nil
}

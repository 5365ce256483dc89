package pg

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Setting is a server setting the embedded cluster runs with, and why.
type Setting struct {
	Name, Value, Why string
}

// Settings are the embedded cluster's server settings, sized for this
// machine's memory and cores: it does batch loads and builds, has no
// replicas, and is ours to tune (a server given by URL keeps its own).
func (c *Cluster) Settings() []Setting {
	mem := memory()
	mb := func(n int64) string { return strconv.FormatInt(n>>20, 10) + "MB" }
	return []Setting{
		{"shared_buffers", mb(clamp(mem/4, 128<<20, 8<<30)), "a quarter of memory (at most 8GB): a year of staging stays cached"},
		{"effective_cache_size", mb(mem / 2), "half of memory: what the planner may assume the OS caches"},
		{"work_mem", "64MB", "sums over a day's or a year's rows hash in memory"},
		{"maintenance_work_mem", mb(clamp(mem/16, 64<<20, 2<<30)), "index builds"},
		{"wal_level", "minimal", "no replicas: tables created or truncated in the transaction that fills them skip the WAL"},
		{"max_wal_senders", "0", "needed by wal_level minimal"},
		{"wal_buffers", "64MB", "bulk COPY fills the default 4MB many times a second"},
		{"max_wal_size", "8GB", "a backfill writes gigabytes: checkpoints by time, not by volume"},
		{"checkpoint_timeout", "15min", "fewer checkpoints during long loads"},
		{"max_parallel_workers_per_gather", strconv.Itoa(max(1, runtime.NumCPU()/2)), "half the cores for one query's workers"},
	}
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

// memory is the machine's memory from /proc/meminfo, or 4GB when unknown.
func memory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 4 << 30
}

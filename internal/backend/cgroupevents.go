package backend

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CgroupEvents are the limit hits the kernel counted in a sandbox's
// cgroups.
type CgroupEvents struct {
	OOMKills int64 // processes the OOM killer killed at the memory limit
	PidsMax  int64 // forks refused at the task limit
}

// LimitReporter is implemented by sandboxes whose runtime records limit
// hits where the cgroup files cannot be read after the sandbox died.
type LimitReporter interface {
	LimitHits(ctx context.Context) (CgroupEvents, error)
}

// SandboxCgroups locates the memory and pids cgroups of a host process
// (a sandbox's main process), so that limit hits can be read after the
// sandbox died. Missing controllers are left empty.
type SandboxCgroups struct {
	memory, pids string
	v2           bool
}

// CgroupsOf reads /proc/PID/cgroup. On hybrid hosts the v1 memory and
// pids hierarchies are the ones that enforce limits.
func CgroupsOf(pid int) (SandboxCgroups, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return SandboxCgroups{}, false
	}
	var c SandboxCgroups
	unified := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			switch ctrl {
			case "memory":
				c.memory = filepath.Join(cgroupRoot, "memory", parts[2])
			case "pids":
				c.pids = filepath.Join(cgroupRoot, "pids", parts[2])
			}
		}
	}
	if c.memory == "" && c.pids == "" && unified != "" && CgroupLayout() == "v2" {
		dir := filepath.Join(cgroupRoot, unified)
		c = SandboxCgroups{memory: dir, pids: dir, v2: true}
	}
	return c, c.memory != "" || c.pids != ""
}

// Events reads the counters now (zero where a file is gone).
func (c SandboxCgroups) Events() CgroupEvents {
	var e CgroupEvents
	if c.v2 {
		e.OOMKills = keyedValue(filepath.Join(c.memory, "memory.events"), "oom_kill")
		e.PidsMax = keyedValue(filepath.Join(c.pids, "pids.events"), "max")
		return e
	}
	if c.memory != "" {
		e.OOMKills = keyedValue(filepath.Join(c.memory, "memory.oom_control"), "oom_kill")
	}
	if c.pids != "" {
		e.PidsMax = keyedValue(filepath.Join(c.pids, "pids.events"), "max")
	}
	return e
}

// keyedValue reads "key value" lines.
func keyedValue(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

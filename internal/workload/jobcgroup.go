package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// guestCgroupRoot is where the agent mounts cgroup2 in a VM guest.
const guestCgroupRoot = "/sys/fs/cgroup"

// jobCgroup holds a job inside a VM guest, where the host's cgroups see
// only the VMM: without it a fork bomb or an allocation storm exhausts the
// guest kernel (which then panics, as init cannot be killed) instead of
// hitting a limit that is reported. Containers and the native process get
// their limits from the host; there the agent neither may nor needs to.
type jobCgroup struct {
	dir string
	fd  int
}

// inVMGuest: the agent is the guest's /init.
func inVMGuest() bool { return os.Getpid() == 1 && len(os.Args) == 1 && os.Args[0] == "/init" }

// newJobCgroup creates a cgroup for one job with a task limit (0: none)
// and a memory limit that leaves reserve bytes for the agent and kernel.
func newJobCgroup(name string, pids, reserve int64) (*jobCgroup, error) {
	if _, err := os.Stat(filepath.Join(guestCgroupRoot, "cgroup.controllers")); err != nil {
		if err := unix.Mount("cgroup2", guestCgroupRoot, "cgroup2", 0, ""); err != nil {
			return nil, fmt.Errorf("mount cgroup2: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(guestCgroupRoot, "cgroup.subtree_control"), []byte("+memory +pids"), 0); err != nil {
		return nil, fmt.Errorf("enable memory and pids controllers: %w", err)
	}
	dir := filepath.Join(guestCgroupRoot, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	c := &jobCgroup{dir: dir, fd: -1}
	avail := memAvailable()
	writes := map[string]string{"memory.swap.max": "0"}
	if avail > reserve {
		writes["memory.max"] = strconv.FormatInt(avail-reserve, 10)
	}
	if pids > 0 {
		writes["pids.max"] = strconv.FormatInt(pids, 10)
	}
	for f, v := range writes {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.remove()
			return nil, fmt.Errorf("%s=%s: %w", f, v, err)
		}
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		c.remove()
		return nil, err
	}
	c.fd = fd
	return c, nil
}

// events returns the OOM kills and refused forks counted in the cgroup.
func (c *jobCgroup) events() (oomKills, pidsMax int64) {
	return eventCount(filepath.Join(c.dir, "memory.events"), "oom_kill"), eventCount(filepath.Join(c.dir, "pids.events"), "max")
}

// remove kills what is left in the cgroup and removes it.
func (c *jobCgroup) remove() {
	if c.fd >= 0 {
		unix.Close(c.fd)
	}
	_ = os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0)
	for range 100 {
		if err := os.Remove(c.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 10_000_000}, nil)
	}
}

func eventCount(path, key string) int64 {
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

// memAvailable reads MemAvailable in bytes (0 if unknown).
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

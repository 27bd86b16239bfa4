package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cfsPeriod is the CFS bandwidth period used for CPU limits (100 ms, the
// kernel's and runc's default), so quota = CPUs × period.
const cfsPeriod = 100_000

const cgroupRoot = "/sys/fs/cgroup"

// OCIResources renders limits as OCI resources. Every backend that uses
// cgroups derives its settings from here or from the same constants, so the
// limits are identical.
func OCIResources(l Limits) *specs.LinuxResources {
	period := uint64(cfsPeriod)
	quota := cpuQuota(l)
	mem := l.MemoryBytes
	r := &specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Period: &period, Quota: &quota},
		Memory: &specs.LinuxMemory{Limit: &mem},
	}
	if l.Pids > 0 {
		pids := l.Pids
		r.Pids = &specs.LinuxPids{Limit: &pids}
	}
	if swapAccounting() {
		// memory+swap = memory: the sandbox cannot swap its way past the limit.
		swap := mem
		r.Memory.Swap = &swap
	}
	return r
}

func cpuQuota(l Limits) int64 { return int64(l.CPUs * cfsPeriod) }

// swapAccounting reports whether the host can limit memory+swap.
func swapAccounting() bool {
	if CgroupLayout() == "v2" {
		_, err := os.Stat(cgroupRoot + "/memory.stat")
		return err == nil
	}
	_, err := os.Stat(cgroupRoot + "/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// CgroupLayout names the host's cgroup mode: "v2" (unified), "hybrid" (v1
// hierarchies plus a cgroup2 mount), "v1", or "unavailable".
func CgroupLayout() string {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return "unavailable"
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if err := unix.Statfs(cgroupRoot+"/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	if err := unix.Statfs(cgroupRoot+"/memory", &st); err == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
		return "v1"
	}
	return "unavailable"
}

// Cgroup is a limits cgroup for a sandbox that no runtime manages (the
// native process baseline). It is written by hand rather than with
// containerd/cgroups because the agent is this same binary: that module's
// dependencies (protobuf and more) added milliseconds of package
// initialisation to every sandbox's cold start.
type Cgroup struct {
	dirs []string // one per v1 hierarchy, or the single v2 directory
	dirF *os.File // v2: lets the child be cloned straight into the cgroup
}

// v1Controllers are the hierarchies a v1 limits cgroup spans; pids lets
// leftover processes be found.
var v1Controllers = []string{"cpu", "memory", "pids"}

// NewCgroup creates the top-level cgroup <id> with the given limits.
func NewCgroup(id string, l Limits) (*Cgroup, error) {
	if err := ValidID(id); err != nil {
		return nil, err
	}
	c := &Cgroup{}
	fail := func(err error) (*Cgroup, error) {
		_ = c.Delete()
		return nil, fmt.Errorf("cgroup %s: %w", id, err)
	}
	if CgroupLayout() == "v2" {
		dir := filepath.Join(cgroupRoot, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fail(err)
		}
		c.dirs = []string{dir}
		writes := [][2]string{
			{"cpu.max", fmt.Sprintf("%d %d", cpuQuota(l), cfsPeriod)},
			{"memory.max", strconv.FormatInt(l.MemoryBytes, 10)},
		}
		if swapAccounting() {
			writes = append(writes, [2]string{"memory.swap.max", "0"})
		}
		if l.Pids > 0 {
			writes = append(writes, [2]string{"pids.max", strconv.FormatInt(l.Pids, 10)})
		}
		for _, w := range writes {
			if err := writeFile(dir, w[0], w[1]); err != nil {
				return fail(err)
			}
		}
		f, err := os.Open(dir)
		if err != nil {
			return fail(err)
		}
		c.dirF = f
		return c, nil
	}
	for _, ctrl := range v1Controllers {
		dir := filepath.Join(cgroupRoot, ctrl, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fail(err)
		}
		c.dirs = append(c.dirs, dir)
		var err error
		switch ctrl {
		case "cpu":
			err = errors.Join(writeFile(dir, "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)),
				writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(cpuQuota(l), 10)))
		case "memory":
			err = writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(l.MemoryBytes, 10))
			if err == nil && swapAccounting() {
				err = writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(l.MemoryBytes, 10))
			}
		case "pids":
			if l.Pids > 0 {
				err = writeFile(dir, "pids.max", strconv.FormatInt(l.Pids, 10))
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	return c, nil
}

func writeFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", name, value, err)
	}
	return nil
}

// FD returns a directory fd for CLONE_INTO_CGROUP, or -1 on cgroup v1.
func (c *Cgroup) FD() int {
	if c.dirF == nil {
		return -1
	}
	return int(c.dirF.Fd())
}

// Add moves a process into the cgroup (needed on v1 only).
func (c *Cgroup) Add(pid int) error {
	for _, d := range c.dirs {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Kill kills every process left in the cgroup: what a sandbox's agent
// started in process groups of their own (a tool's server) goes too.
func (c *Cgroup) Kill() {
	for range 3 {
		for _, d := range c.dirs {
			killCgroupProcs(d)
		}
	}
}

// Delete removes the cgroup, retrying briefly while a just-killed process
// still holds it.
func (c *Cgroup) Delete() error {
	if c.dirF != nil {
		_ = c.dirF.Close()
		c.dirF = nil
	}
	var errs []error
	for _, d := range c.dirs {
		if err := removeCgroupDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	c.dirs = nil
	return errors.Join(errs...)
}

// removeCgroupDir removes one cgroup directory, retrying briefly while a
// just-killed process still holds it.
func removeCgroupDir(d string) error {
	var err error
	for i := range 50 {
		if err = os.Remove(d); err == nil || os.IsNotExist(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "busy") {
			break
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup: %w", err)
}

// RemoveLeftoverCgroups removes the top-level cgroup named id from every
// hierarchy, killing what is still inside it first. A runtime normally
// removes its container's cgroups on delete, but one interrupted half-way
// through create (runsc cancelled within milliseconds) leaves them behind
// in hierarchies its delete no longer visits.
func RemoveLeftoverCgroups(id string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", id))
	if fi, err := os.Stat(filepath.Join(cgroupRoot, id)); err == nil && fi.IsDir() {
		dirs = append(dirs, filepath.Join(cgroupRoot, id))
	}
	var errs []error
	for _, d := range dirs {
		// Children first: a runtime may nest a cgroup below the container's.
		var nested []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				nested = append(nested, p)
			}
			return nil
		})
		for i := len(nested) - 1; i >= 0; i-- {
			killCgroupProcs(nested[i])
			if err := removeCgroupDir(nested[i]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", nested[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

func killCgroupProcs(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

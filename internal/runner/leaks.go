package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/reaper"
	"github.com/isobench/isobench/internal/workload"
)

// Leaks lists whatever a run left behind: mounts below workDir, cgroups or
// processes whose names carry idPrefix, processes started from workDir, and
// workDir itself if it still exists. An empty list means a clean host.
func Leaks(workDir, idPrefix string) []string {
	var leaks []string
	for _, m := range mountsUnder(workDir, idPrefix) {
		leaks = append(leaks, "mount "+m)
	}
	for _, c := range cgroupsWithPrefix(idPrefix) {
		leaks = append(leaks, "cgroup "+c)
	}
	for _, p := range processesOf(workDir, idPrefix) {
		leaks = append(leaks, "process "+p)
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), idPrefix) {
				leaks = append(leaks, "network namespace /run/netns/"+e.Name())
			}
		}
	}
	if entries, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), backend.LinkRunPrefix(idPrefix)) {
				leaks = append(leaks, "network interface "+e.Name())
			}
		}
	}
	if _, err := os.Stat(workDir); err == nil {
		leaks = append(leaks, "directory "+workDir)
	}
	return leaks
}

// mountsUnder returns mount points below dir or naming a sandbox id.
func mountsUnder(dir, idPrefix string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, dir+"/") || mp == dir || strings.Contains(mp, idPrefix) {
			out = append(out, mp)
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupsWithPrefix finds cgroup directories (v1 hierarchies and v2) whose
// name starts with prefix, at the top level where isobench creates them.
func cgroupsWithPrefix(prefix string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var out []string
	for _, root := range roots {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
				out = append(out, filepath.Join(root, e.Name()))
			}
		}
	}
	return out
}

// processesOf finds processes whose command line mentions dir (runtime
// helpers such as runsc's sandbox and gofer) or whose cgroup carries prefix.
func processesOf(dir, prefix string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if bytes.Contains(cmdline, []byte(dir+"/")) || bytes.Contains(cg, []byte("/"+prefix)) {
			args := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
			if len(args) > 120 {
				args = args[:120] + "…"
			}
			out = append(out, fmt.Sprintf("%d (%s)", pid, args))
		}
	}
	return out
}

// fsType names the filesystem that holds dir (or its nearest existing
// parent), for the record: file I/O on tmpfs is memory, not disk.
func fsType(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return workload.FSName(d)
		}
		if d == "/" || d == "." {
			return "unknown"
		}
	}
}

// RemoveWorkDir unmounts anything left below dir (never following a mount
// into someone else's files) and removes it.
func RemoveWorkDir(dir string) error {
	mounts := mountsUnder(dir, "\x00")
	// Deepest first.
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = unix.Unmount(mounts[i], unix.MNT_DETACH)
	}
	if left := mountsUnder(dir, "\x00"); len(left) > 0 {
		return fmt.Errorf("cannot remove %s: still mounted: %s", dir, strings.Join(left, ", "))
	}
	return os.RemoveAll(dir)
}

// sweepLinks removes network interfaces and namespaces of this run that a
// failed teardown left (a tap or veth whose removal failed) and says what
// it removed: each is still a leak to report.
func sweepLinks(ctx context.Context, idPrefix string) []string {
	var removed []string
	if entries, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), backend.LinkRunPrefix(idPrefix)) &&
				reaper.Run(exec.CommandContext(ctx, "ip", "link", "del", e.Name())) == nil {
				removed = append(removed, "network interface "+e.Name()+" (removed by the end-of-run sweep)")
			}
		}
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), idPrefix) &&
				reaper.Run(exec.CommandContext(ctx, "ip", "netns", "del", e.Name())) == nil {
				removed = append(removed, "network namespace "+e.Name()+" (removed by the end-of-run sweep)")
			}
		}
	}
	return removed
}

// Package hostmem reads what sandboxes cost the host in memory: the
// proportional set size (PSS) of their processes, the VMM's share beyond
// guest RAM, and the host's available memory.
//
// PSS counts each page a process maps divided by the number of processes
// mapping it, so PSS summed over sandboxes never counts a shared page (the
// runtime's binary, the agent image) more than once in total.
package hostmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// PSS is a process's proportional set size in bytes, from smaps_rollup.
func PSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, fmt.Errorf("pss of %d: %w", pid, err)
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if kb, ok := kbField(line, "Pss:"); ok {
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("pss of %d: no Pss line in smaps_rollup", pid)
}

// SumPSS adds the PSS of pids; a process that exited meanwhile, or is a
// zombie (its smaps cannot be read), counts 0.
func SumPSS(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		p, err := PSS(pid)
		if err != nil {
			if Exited(pid) {
				continue
			}
			return 0, err
		}
		sum += p
	}
	return sum, nil
}

// LargeMappingsPSS is the PSS, in bytes, of pid's mappings of at least
// minSize bytes: in a VMM, the guest's RAM (one mapping the size of the
// machine's memory), which the rest of its PSS is the VMM's overhead beyond.
func LargeMappingsPSS(pid int, minSize int64) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, fmt.Errorf("smaps of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum int64
	large := false
	for sc.Scan() {
		line := sc.Bytes()
		if kb, ok := kbField(line, "Size:"); ok {
			large = kb<<10 >= minSize
		} else if kb, ok := kbField(line, "Pss:"); ok && large {
			sum += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("smaps of %d: %w", pid, err)
	}
	return sum, nil
}

// kbField parses "Name:   123 kB".
func kbField(line []byte, name string) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(name))
	if !ok {
		return 0, false
	}
	f := strings.Fields(string(rest))
	if len(f) < 1 {
		return 0, false
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	return v, err == nil
}

// MemAvailable is the kernel's estimate of memory available for new work
// without swapping, in bytes.
func MemAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if kb, ok := kbField(line, "MemAvailable:"); ok {
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no MemAvailable in /proc/meminfo")
}

// WithDescendants returns pids and every process descending from them,
// sorted and without duplicates.
func WithDescendants(pids ...int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := PPID(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	seen := map[int]bool{}
	var walk func(int)
	walk = func(p int) {
		if p <= 1 || seen[p] {
			return
		}
		seen[p] = true
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, p := range pids {
		walk(p)
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// PPID is a process's parent.
func PPID(pid int) (int, error) {
	_, ppid, err := stat(pid)
	return ppid, err
}

// Exited reports a process that is gone or a zombie (whoever reaps it).
func Exited(pid int) bool {
	state, _, err := stat(pid)
	return err != nil || state == 'Z' || state == 'X'
}

// stat reads a process's state and parent from /proc/PID/stat, whose
// second field, the command name, may itself hold spaces and parentheses.
func stat(pid int) (state byte, ppid int, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat of %d: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("stat of %d: malformed", pid)
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, err
}

// RSS is a process's resident set size in bytes, from /proc/PID/statm.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("statm of %d: malformed", pid)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}

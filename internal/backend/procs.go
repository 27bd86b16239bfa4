package backend

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/hostmem"
)

// ProcessesMentioning lists the processes (other than this one) whose
// command line contains s.
func ProcessesMentioning(s string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillMentioning SIGKILLs every process whose command line contains s (a
// path private to one sandbox, such as its bundle) and returns how many it
// signalled. It is the last resort when a runtime's own kill and delete
// hung: runsc's sandbox and gofer name their bundle in their arguments.
func KillMentioning(s string) int {
	n := 0
	for _, pid := range ProcessesMentioning(s) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// MainFirst returns main followed by the other pids of all, without
// duplicates: Stats.HostPIDs order.
func MainFirst(main int, all []int) []int {
	out := []int{main}
	for _, p := range all {
		if p != main && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// WaitGone waits until process pid has exited (a zombie counts as gone:
// whoever reaps it is not isobench), polling for at most limit.
func WaitGone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !hostmem.Exited(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

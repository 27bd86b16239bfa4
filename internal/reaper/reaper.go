package reaper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Package reaper makes isobench a child subreaper and keeps track of the
// children it starts, so that orphans are reaped at once and no child is
// reaped behind os/exec's back. Every exec.Cmd isobench runs goes through
// Start/Wait or Run.
//
// Container runtimes fork the sandbox's processes and exit (`runc create`
// leaves the container's init running; `runsc create` leaves the sandbox
// and gofer). Those orphans are re-parented to the nearest subreaper. As one
// (like containerd's shim) isobench reaps them the moment they exit instead
// of leaving zombies for the host's init to collect at its own pace.
//
// Reaping must never take a child that os/exec is about to Wait for, so
// every child isobench starts goes through StartChild (which records it)
// and WaitChild; ReapOrphans skips recorded children and excludes starts in
// progress. This state is process-wide because the subreaper flag is.
var children = struct {
	sync.RWMutex            // held shared while a child starts, exclusively while reaping
	ownedMu      sync.Mutex // guards owned
	owned        map[int]bool
	once         sync.Once
	err          error
}{owned: map[int]bool{}}

// Enable marks this process as the reaper of orphaned descendants
// and reaps them on every SIGCHLD. Reaping at once matters for timing, not
// only for tidiness: `runsc delete` polls until the sandbox process is gone,
// and a zombie still counts as there (seen here: 1.3 s of "delete" that
// was the host init's reaping delay).
func Enable() error {
	children.once.Do(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			children.err = fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
			return
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, unix.SIGCHLD)
		go func() {
			for range sigs {
				ReapOrphans()
			}
		}()
	})
	return children.err
}

// Start starts cmd and records it as owned until WaitChild.
func Start(cmd *exec.Cmd) error {
	children.RLock()
	defer children.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	children.ownedMu.Lock()
	children.owned[cmd.Process.Pid] = true
	children.ownedMu.Unlock()
	return nil
}

// Wait waits for a child started with Start.
func Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	children.ownedMu.Lock()
	delete(children.owned, cmd.Process.Pid)
	children.ownedMu.Unlock()
	return err
}

// Run is Start followed by Wait.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return Wait(cmd)
}

// ReapOrphans collects every exited child that isobench did not start
// itself (orphans re-parented to it). It returns how many it reaped.
func ReapOrphans() int {
	children.Lock()
	defer children.Unlock()
	self := os.Getpid()
	n := 0
	for _, pid := range childPIDs(self) {
		children.ownedMu.Lock()
		owned := children.owned[pid]
		children.ownedMu.Unlock()
		if owned {
			continue
		}
		ppid, state, ok := procStat(pid)
		if !ok || ppid != self || state != 'Z' {
			continue
		}
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
			n++
		}
	}
	return n
}

// procStat reads the parent pid and state letter of pid.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name may contain spaces and parentheses: parse after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+4 > len(b) {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return ppid, f[0][0], err == nil
}

// childPIDs lists this process's children from /proc/self/task/*/children,
// or, on kernels without that file, by scanning every process.
func childPIDs(self int) []int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	if len(tasks) > 0 {
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range bytes.Fields(b) {
				if pid, err := strconv.Atoi(string(f)); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		return pids
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Adopt marks an orphan re-parented to this process as owned, so that
// ReapOrphans leaves its exit status to WaitAdopted. Call it while the
// process cannot yet have exited (a created but not started container).
func Adopt(pid int) {
	children.ownedMu.Lock()
	children.owned[pid] = true
	children.ownedMu.Unlock()
}

// WaitAdopted waits for an adopted process to exit and reaps it. When ctx
// ends first, the process is killed and reaped; the error says so.
func WaitAdopted(ctx context.Context, pid int) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			children.ownedMu.Lock()
			delete(children.owned, pid)
			children.ownedMu.Unlock()
		}()
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err != unix.EINTR {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = unix.Kill(pid, unix.SIGKILL)
		<-done // SIGKILL cannot be ignored; the wait ends
		return fmt.Errorf("process %d killed: %w", pid, context.Cause(ctx))
	}
}

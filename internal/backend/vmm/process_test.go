package vmm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/agent"
)

// A VMM that never answers is stopped with SIGKILL, and whatever it
// started in its process group goes with it.
func TestStopKillsTheVMMAndItsGroup(t *testing.T) {
	// The "VMM" starts a helper in its group and writes the helper's pid to
	// a file (its console is the agent connection's to read).
	pidFile := filepath.Join(t.TempDir(), "helper.pid")
	cmd := exec.Command("sh", "-c", `sleep 600 & echo $! > "$0.tmp" && mv "$0.tmp" "$0"; wait`, pidFile)
	p, err := Start(cmd, ConsolePipe)
	if err != nil {
		t.Fatal(err)
	}
	var helper int
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			if helper, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("helper pid %q: %v", b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the VMM did not start its helper")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(t.Context(), false, nil) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop of a never-ready guest reported %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	select {
	case <-p.Done():
	default:
		t.Error("Stop returned before the VMM was reaped")
	}
	// The helper was SIGKILLed; it may linger briefly as a zombie of init.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(helper, 0) == nil && !isZombie(helper) {
		if time.Now().After(deadline) {
			t.Fatalf("helper %d outlived the VMM's stop", helper)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The VMM's own stop request comes before SIGKILL.
func TestStopUsesTheVMMStopRequest(t *testing.T) {
	p, err := Start(exec.Command("sleep", "600"), ConsolePipe)
	if err != nil {
		t.Fatal(err)
	}
	asked := false
	stopVMM := func(context.Context) error {
		asked = true
		return syscall.Kill(p.PID(), syscall.SIGTERM) // as QMP "quit" ends QEMU
	}
	if err := p.Stop(t.Context(), false, stopVMM); err != nil {
		t.Errorf("Stop: %v", err)
	}
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !asked || ws.Signal() != syscall.SIGTERM {
		t.Errorf("stop request asked=%v, VMM ended by %v; want the request to end it", asked, ws.Signal())
	}
}

func isZombie(pid int) bool {
	b, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return err != nil || strings.HasPrefix(strings.TrimSpace(string(b)), "Z")
}

// Both consoles carry the agent protocol both ways, and what the VMM
// writes last before it exits (a guest's boot error) is not lost.
func TestConsoleCarriesFramesBothWays(t *testing.T) {
	for _, tc := range []struct {
		name    string
		console Console
		check   string // fails the "VMM" unless its stdin is of this kind
	}{
		{"pipe", ConsolePipe, "! test -t 0"},
		{"terminal", ConsoleTerminal, "test -t 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The "VMM" sends the ready frame, answers one request (a raw
			// console echoes nothing back), reports an error and exits.
			script := tc.check + ` || exit 3
				echo '@isobench1 {"v":1,"type":"ready","ready":{"pid":1}}'
				read line
				case "$line" in *'"workload":"noop"'*) ;; *) exit 4;; esac
				echo '@isobench1 {"v":1,"type":"result","result":{"workload":"noop"}}'
				echo '@isobench1 {"v":1,"type":"error","error":"last words"}'`
			p, err := Start(exec.Command("sh", "-c", script), tc.console)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if r, err := p.Conn().WaitReady(ctx); err != nil || r.PID != 1 {
				t.Fatalf("WaitReady = %+v, %v", r, err)
			}
			if res, err := p.Conn().Run(ctx, agent.Request{Workload: "noop"}); err != nil || res.Workload != "noop" {
				t.Fatalf("Run = %+v, %v", res, err)
			}
			<-p.Done()
			if ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.ExitStatus() != 0 {
				t.Fatalf("VMM exited %d (3: stdin is not a %s; 4: request garbled)", ws.ExitStatus(), tc.name)
			}
			// As a guest that fails to boot reports its error.
			if _, err := p.Conn().WaitReady(ctx); err == nil || !strings.Contains(err.Error(), "last words") {
				t.Errorf("frame written just before exit: error = %v, want \"last words\"", err)
			}
		})
	}
}

// The agent's exit request reaches the guest on both consoles, and the
// VMM's exit ends the connection: Exit returns without waiting out its
// grace.
func TestExitRequestReachesTheGuest(t *testing.T) {
	for _, console := range []Console{ConsolePipe, ConsoleTerminal} {
		// The "VMM" answers ready, then exits once a line (the exit
		// request) arrives.
		script := `echo '@isobench1 {"v":1,"type":"ready","ready":{"pid":1}}'; read line; case "$line" in *exit*) exit 0;; esac; exit 5`
		p, err := Start(exec.Command("sh", "-c", script), console)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		if _, err := p.Conn().WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := p.Stop(ctx, true, nil); err != nil {
			t.Errorf("console %d: Stop after the exit request: %v", console, err)
		}
		cancel()
		if ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.ExitStatus() != 0 || time.Since(start) > 3*time.Second {
			t.Errorf("console %d: VMM exited %d after %s; want 0 at once (the request arrived)", console, ws.ExitStatus(), time.Since(start))
		}
	}
}

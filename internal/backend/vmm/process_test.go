package vmm

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A VMM that never answers is stopped with SIGKILL, and whatever it
// started in its process group goes with it.
func TestStopKillsTheVMMAndItsGroup(t *testing.T) {
	// The "VMM" starts a helper in its group and prints the helper's pid.
	cmd := exec.Command("sh", "-c", `sleep 600 & echo $!; wait`)
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := p.console.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	helper, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("helper pid %q: %v", buf[:n], err)
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
	p, err := Start(exec.Command("sleep", "600"))
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

// Package vmm holds what every VM backend shares: the VMM process whose
// serial console (its stdin and stdout) carries the agent protocol, its
// teardown, the guest kernel command line, and the choice between hardware
// acceleration and emulation.
package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/reaper"
)

// Teardown timeouts: an emulated guest is slow to react.
const (
	// ExitGrace bounds the agent's exit and the guest's reset after it.
	ExitGrace = 10 * time.Second
	// StopGrace bounds the VMM's own stop request (QMP quit, API shutdown).
	StopGrace = 5 * time.Second
)

// Process is a running VMM whose serial console is the agent's channel.
type Process struct {
	cmd     *exec.Cmd
	conn    *backend.AgentConn
	console *os.File // read end of the console; closed once the VMM is gone

	mu     sync.Mutex
	exited bool          // the VMM has exited (it may not be reaped yet)
	done   chan struct{} // closed once the VMM is reaped
}

// Console is how the VMM's stdin and stdout carry the serial port.
type Console int

const (
	// ConsolePipe gives the VMM a pipe for each direction (QEMU's
	// `-serial stdio`, Firecracker's serial).
	ConsolePipe Console = iota
	// ConsoleTerminal gives it a pseudo-terminal in raw mode: Cloud
	// Hypervisor's serial "Tty" mode reads guest input from stdin only
	// when stdin is a terminal.
	ConsoleTerminal
)

// drainGrace bounds the wait, after the VMM is gone, for the agent
// connection to read what the VMM wrote last (a guest's boot error).
const drainGrace = time.Second

// Start starts cmd with its stdin and stdout as the guest's serial console.
// The VMM gets its own process group, which is killed when it exits.
func Start(cmd *exec.Cmd, console Console) (*Process, error) {
	var (
		childIn, childOut *os.File       // the VMM's ends
		toGuest           io.WriteCloser // our write end
		fromGuest         io.Reader      // our read end
		closer            *os.File       // closed once the VMM is gone
	)
	switch console {
	case ConsoleTerminal:
		master, slave, err := pty.Open()
		if err != nil {
			return nil, fmt.Errorf("console terminal: %w", err)
		}
		// Raw: no echo of requests, no CR/LF translation, no line limit.
		if _, err := term.MakeRaw(int(slave.Fd())); err != nil {
			master.Close()
			slave.Close()
			return nil, fmt.Errorf("console terminal raw mode: %w", err)
		}
		// The master is one file for both directions: closing it after
		// the exit request (as a pipe's write end is) would hang up the
		// terminal and drop the request unread. It is closed in wait().
		childIn, childOut, toGuest, fromGuest, closer = slave, slave, terminalWriter{master}, terminalReader{master}, master
	default:
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("console pipe: %w", err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			inR.Close()
			inW.Close()
			return nil, fmt.Errorf("console pipe: %w", err)
		}
		childIn, childOut, toGuest, fromGuest, closer = inR, outW, inW, outR, outR
	}
	stderr := backend.NewTailBuffer(4096)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = childIn, childOut, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = StopGrace
	err := reaper.Start(cmd)
	// The child holds its own copies; ours would keep the console open
	// after the VMM is gone.
	childIn.Close()
	childOut.Close()
	if err != nil {
		toGuest.Close()
		closer.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, console: closer, done: make(chan struct{}), conn: backend.NewAgentConn(toGuest, fromGuest, stderr)}
	go p.wait()
	return p, nil
}

// terminalWriter writes to a pseudo-terminal's master; Close does nothing
// (see Start).
type terminalWriter struct{ f *os.File }

func (w terminalWriter) Write(b []byte) (int, error) { return w.f.Write(b) }
func (w terminalWriter) Close() error                { return nil }

// terminalReader reads a pseudo-terminal's master, whose reads fail with
// EIO, not EOF, once the other side is closed.
type terminalReader struct{ f *os.File }

func (r terminalReader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}

// wait waits for the VMM to exit without reaping it first: while it is a
// zombie its pid, and so its process group id, cannot be reused, so
// whatever it left in its group can be killed without hitting a stranger.
func (p *Process) wait() {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	p.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	p.exited = true
	p.mu.Unlock()
	_ = reaper.Wait(p.cmd)
	// With every writer gone the reader meets EOF once it has read what
	// is buffered; closing the console before that would lose it.
	t := time.NewTimer(drainGrace)
	select {
	case <-p.conn.Done():
	case <-t.C:
	}
	t.Stop()
	p.console.Close()
	close(p.done)
}

// Conn is the agent's end of the console.
func (p *Process) Conn() *backend.AgentConn { return p.conn }

// PID is the VMM's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the VMM has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL to the VMM's process group unless it has exited.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Stop ends the VM and returns once the VMM is reaped: first by asking
// the agent to exit (the guest then resets, which ends the VMM), then with
// the VMM's own stop request (stopVMM, may be nil), then with SIGKILL. The
// error says which escalation a ready guest needed; agentReady=false (a
// guest that never answered) skips the agent and reports nothing.
func (p *Process) Stop(ctx context.Context, agentReady bool, stopVMM func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	if agentReady {
		exitCtx, cancel := context.WithTimeout(ctx, ExitGrace)
		err := p.conn.Exit(exitCtx)
		cancel()
		if err == nil && p.waitDone(ExitGrace) {
			return nil
		}
		errs = append(errs, fmt.Errorf("the guest did not stop within %s of the agent's exit request (%v)", ExitGrace, err))
	} else {
		p.conn.CloseInput()
	}
	if stopVMM != nil {
		stopCtx, cancel := context.WithTimeout(ctx, StopGrace)
		err := stopVMM(stopCtx)
		cancel()
		if err == nil && p.waitDone(StopGrace) {
			return joinIf(agentReady, errs, errors.New("stopped by the VMM's stop request"))
		}
		errs = append(errs, fmt.Errorf("VMM stop request: %v", err))
	}
	p.Kill()
	<-p.done
	return joinIf(agentReady, errs, errors.New("killed with SIGKILL"))
}

func (p *Process) waitDone(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

func joinIf(report bool, errs []error, last error) error {
	if !report {
		return nil
	}
	return fmt.Errorf("forced VM stop: %w", errors.Join(append(errs, last)...))
}

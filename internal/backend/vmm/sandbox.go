package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostmem"
)

// Launch describes booting one VM; every VM backend launches through it,
// so phases and teardown mean the same for each.
type Launch struct {
	Backend  backend.Name
	Cmd      *exec.Cmd         // the VMM, its stdin and stdout become the serial console
	Console  Console           // pipes unless the VMM needs a terminal
	Timeline *backend.Timeline // started at the launch call
	// Socket is the VMM's API or control socket; it is removed at Close.
	Socket string
	// Log, when set, is the file the VMM is told to log to (instead of its
	// stdout, the console). It is created empty before the VMM starts, its
	// tail is quoted in launch errors, and it is removed at Close.
	Log  string
	Disk *Disk // removed at Close; may be nil
	// Tap is the VM's network link, made before the launch call (as a
	// container's veth is) and removed after the VM's teardown; may be nil.
	Tap *Tap
	// Configure, when set, waits for Socket to answer (marking PhaseAPI),
	// then configures and boots the machine through its API (marking
	// PhaseConfig). QEMU, configured on its command line, has none.
	Configure func(ctx context.Context) error
	// Restored says the VM resumes from a snapshot (Configure restores
	// it): its agent sent its ready frame before the snapshot, so readiness
	// is its answer to a no-op request instead.
	Restored bool
	// StopVMM asks the VMM to stop when the agent's exit did not end it.
	StopVMM func(ctx context.Context) error
	// Release frees API clients; called once at Close.
	Release func()
}

// Start boots the VM and returns once its agent is ready. On error nothing
// of the VM remains (the disk included).
func (l Launch) Start(ctx context.Context) (backend.Sandbox, error) {
	var p *Process
	err := l.createLog()
	if err == nil {
		p, err = Start(l.Cmd, l.Console)
	}
	if err != nil {
		l.Disk.Remove()
		l.removeLog()
		_ = l.Tap.Remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s: %w", l.Backend, err)
	}
	l.Timeline.Mark(backend.PhaseSpawn)
	s := &Sandbox{l: l, p: p}
	fail := func(err error) (backend.Sandbox, error) {
		if tail := l.logTail(); tail != "" {
			err = fmt.Errorf("%w (VMM log: %s)", err, tail)
		}
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s: %w", l.Backend, err)
	}
	if l.Configure != nil {
		if err := WaitForSocket(ctx, l.Socket, p.Done()); err != nil {
			return fail(err)
		}
		l.Timeline.Mark(backend.PhaseAPI)
		if err := l.Configure(ctx); err != nil {
			return fail(err)
		}
		l.Timeline.Mark(backend.PhaseConfig)
	}
	if l.Restored {
		if _, err := p.Conn().Run(ctx, agent.Request{Workload: "noop"}); err != nil {
			return fail(fmt.Errorf("restored agent: %w", err))
		}
		l.Timeline.Mark(backend.PhaseReady)
		s.ready = true
		return s, nil
	}
	ready, err := p.Conn().WaitReady(ctx)
	if err != nil {
		return fail(err)
	}
	l.Timeline.Mark(backend.PhaseReady)
	l.Timeline.SetReady(ready)
	s.ready = true
	return s, nil
}

// Sandbox is one running VM.
type Sandbox struct {
	l      Launch
	p      *Process
	ready  bool // the agent answered: it can be asked to exit
	closed bool
}

var (
	_ backend.Sandbox    = (*Sandbox)(nil)
	_ backend.HostLinker = (*Sandbox)(nil)
)

func (s *Sandbox) Run(ctx context.Context, req agent.Request) (*agent.Result, error) {
	return s.p.Conn().Run(ctx, req)
}

// Stats names the VMM and whatever it started (QEMU's migration helper).
func (s *Sandbox) Stats(context.Context) (backend.Stats, error) {
	return backend.Stats{HostPIDs: backend.MainFirst(s.p.PID(), hostmem.WithDescendants(s.p.PID()))}, nil
}

func (s *Sandbox) Timeline() *backend.Timeline { return s.l.Timeline }

// Close stops the VM (see Process.Stop) and removes its socket and disk.
// A forced stop of a ready guest is an error: the sample's teardown time
// is then not real.
func (s *Sandbox) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.p.Stop(ctx, s.ready, s.l.StopVMM); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", s.l.Backend, err))
	}
	s.l.Timeline.Mark(backend.PhaseExit)
	if s.l.Release != nil {
		s.l.Release()
	}
	if s.l.Socket != "" {
		if err := os.Remove(s.l.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := s.l.Disk.Remove(); err != nil {
		errs = append(errs, err)
	}
	s.l.removeLog()
	s.l.Timeline.Mark(backend.PhaseDelete)
	// Like its setup, the link's removal is not the VM's teardown.
	if err := s.l.Tap.Remove(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// HostAddr is the host's end of the VM's link, where a native peer
// listens for the network workload.
func (s *Sandbox) HostAddr() (string, string) {
	if s.l.Tap == nil {
		return "", "launched without a network link"
	}
	return s.l.Tap.HostIP.String(), ""
}

// Devices makes what spec asks for and starts the launch's timeline: the
// network link first (outside the timeline, as a container's veth is), then
// the scratch disk (its own phase, PhaseDisk). On error nothing remains.
func Devices(ctx context.Context, spec backend.Spec, runPrefix string, linkIndex *atomic.Uint32) (*backend.Timeline, *Disk, *Tap, error) {
	var tap *Tap
	if spec.Network {
		t, err := NewTap(ctx, runPrefix, spec.ID, linkIndex.Add(1))
		if err != nil {
			return nil, nil, nil, err
		}
		tap = t
	}
	tl := backend.NewTimeline()
	disk, err := ScratchDisk(ctx, spec)
	if err != nil {
		_ = tap.Remove(context.WithoutCancel(ctx))
		return nil, nil, nil, err
	}
	if disk != nil {
		tl.Mark(backend.PhaseDisk)
	}
	return tl, disk, tap, nil
}

func (l Launch) createLog() error {
	if l.Log == "" {
		return nil
	}
	f, err := os.OpenFile(l.Log, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("VMM log: %w", err)
	}
	return f.Close()
}

func (l Launch) removeLog() {
	if l.Log != "" {
		_ = os.Remove(l.Log)
	}
}

// logTail is the end of the VMM's log, on one line.
func (l Launch) logTail() string {
	if l.Log == "" {
		return ""
	}
	b, err := os.ReadFile(l.Log)
	if err != nil {
		return ""
	}
	const keep = 1024
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

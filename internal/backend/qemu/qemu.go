// Package qemu runs the agent in a QEMU virtual machine: a full machine
// (q35) or the minimal microvm machine, with KVM where it works and TCG
// emulation otherwise. The agent is the initramfs's /init and talks over
// the serial console; QMP is the control channel for a forced stop.
package qemu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/guest"
	"github.com/isobench/isobench/internal/reaper"
)

type machine struct {
	name    backend.Name
	kind    backend.Kind
	machine string // -M value
}

func init() {
	for _, m := range []machine{
		{name: "qemu", kind: backend.KindVM, machine: "q35"},
		{name: "qemu-microvm", kind: backend.KindMicroVM, machine: "microvm"},
	} {
		backend.Register(backend.Registration{Name: m.name, Kind: m.kind, New: m.construct})
	}
}

const binary = "qemu-system-x86_64"

// Backend boots one VM per sandbox.
type Backend struct {
	m         machine
	qemu      string
	version   string
	kernel    guest.Kernel
	initramfs string
	accel     backend.Accel
	accelNote string
	cmdline   string
	env       backend.Env
}

var _ backend.Backend = (*Backend)(nil)

func (m machine) construct(ctx context.Context, env backend.Env) (backend.Backend, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return nil, backend.Unavailable(binary+" not found in PATH", "apt-get install qemu-system-x86")
	}
	vcmd := exec.CommandContext(ctx, path, "--version")
	var vout strings.Builder
	vcmd.Stdout = &vout
	err = reaper.Run(vcmd)
	out := vout.String()
	if err != nil {
		return nil, backend.Unavailable(fmt.Sprintf("%s --version failed: %v", path, err), "apt-get install --reinstall qemu-system-x86")
	}
	version := strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "QEMU emulator version ")
	kernel, err := guest.ResolveKernel(ctx, env.KernelPath, guest.CacheDir())
	if err != nil {
		return nil, backend.Unavailable(fmt.Sprintf("no guest kernel: %v", err), "pass --kernel PATH to a bzImage, or run on Debian/Ubuntu with apt sources (isobench fetches linux-image-cloud-amd64)")
	}
	initramfs, err := guest.Initramfs(guest.CacheDir(), env.AgentPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	b := &Backend{m: m, qemu: path, version: version, kernel: kernel, initramfs: initramfs, env: env, cmdline: kernelCmdline()}
	b.accel, b.accelNote = b.detectAccel(ctx)
	if err := b.probe(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// kernelCmdline keeps the console quiet (frames are recognised anyway) and
// makes a reset end QEMU (-no-reboot). The early TSC frequency avoids a
// calibration hang seen in ~5–10% of TCG microvm boots.
func kernelCmdline() string {
	args := []string{"console=" + strings.TrimPrefix(agent.GuestConsole, "/dev/"), "quiet", "loglevel=1", "reboot=t", "panic=-1"}
	if khz := cpuKHz(); khz > 0 {
		args = append(args, fmt.Sprintf("tsc_early_khz=%d", khz), "tsc=reliable")
	}
	return strings.Join(args, " ")
}

func cpuKHz() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			var mhz float64
			if _, err := fmt.Sscan(strings.TrimSpace(v), &mhz); err == nil {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}

// detectAccel uses KVM only if a VM actually boots under it within the
// probe timeout: a /dev/kvm that opens may still be unable to run guests
// (nested PVM devices assert or stall).
func (b *Backend) detectAccel(ctx context.Context) (backend.Accel, string) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return backend.AccelTCG, "no /dev/kvm: the guest is emulated (TCG); numbers are not comparable to hardware virtualization"
	}
	b.accel = backend.AccelKVM
	if err := b.probe(ctx); err != nil {
		return backend.AccelTCG, fmt.Sprintf("/dev/kvm is present but a KVM guest did not boot (%v): the guest is emulated (TCG)", err)
	}
	return backend.AccelKVM, ""
}

func (b *Backend) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, b.env.ProbeTimeout)
	defer cancel()
	id := fmt.Sprintf("%s%s-probe-%s-%s", backend.IDPrefix, b.env.RunID, b.m.name, b.accel)
	sb, err := b.Launch(pctx, backend.Spec{ID: id, Limits: backend.Limits{CPUs: 1, MemoryBytes: 256 << 20}})
	if err != nil {
		return backend.Unavailable(fmt.Sprintf("probe VM (%s) did not become ready within %s: %v", b.accel, b.env.ProbeTimeout, err),
			"check the kernel with --kernel, or raise --probe-timeout for a slow emulated boot")
	}
	return sb.Close(ctx)
}

func (b *Backend) Name() backend.Name { return b.m.name }

func (b *Backend) Info() backend.Info {
	notes := []string{fmt.Sprintf("kernel %s (%s), initramfs with the agent as /init, serial console", b.kernel.Version, b.kernel.Source),
		"limits: -smp and -m (whole vCPUs: --cpus is rounded up)"}
	if b.accelNote != "" {
		notes = append(notes, b.accelNote)
	}
	return backend.Info{
		Name: b.m.name, Kind: b.m.kind, Accel: b.accel, Version: b.version, Binary: b.qemu,
		Config: []string{"-M " + b.m.machine, "-accel " + string(b.accel), "-append " + b.cmdline},
		Notes:  notes,
	}
}

// maxSocketPath keeps unix socket paths within sun_path (108 bytes).
const maxSocketPath = 100

// Timeouts of a VM's teardown: an emulated guest is slow to react.
const (
	exitGrace = 10 * time.Second
	quitGrace = 5 * time.Second
)

func (b *Backend) args(spec backend.Spec, qmpPath string) []string {
	mem := int64(math.Max(64, float64(spec.Limits.MemoryBytes>>20)))
	args := []string{
		"-M", b.m.machine, "-accel", string(b.accel),
		"-m", fmt.Sprint(mem), "-smp", fmt.Sprint(int(math.Ceil(spec.Limits.CPUs))),
		"-kernel", b.kernel.Path, "-initrd", b.initramfs, "-append", b.cmdline,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio", "-qmp", "unix:" + qmpPath + ",server=on,wait=off",
	}
	if b.accel == backend.AccelKVM {
		args = append(args, "-cpu", "host")
	}
	return args
}

// Launch boots a VM and waits for the agent's ready frame on the console.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.env.WorkDir, string(b.m.name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	qmpPath := filepath.Join(dir, spec.ID+".qmp")
	if len(qmpPath) > maxSocketPath {
		qmpPath = filepath.Join(os.TempDir(), fmt.Sprintf("isobench-%08x.qmp", backend.Hash32(qmpPath)))
	}
	cmd := exec.Command(b.qemu, b.args(spec, qmpPath)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = quitGrace
	stderr := backend.NewTailBuffer(4096)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tl := backend.NewTimeline()
	if err := reaper.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", b.m.name, b.qemu, err)
	}
	tl.Mark(backend.PhaseSpawn)
	s := &sandbox{b: b, cmd: cmd, qmpPath: qmpPath, tl: tl, conn: backend.NewAgentConn(stdin, stdout, stderr)}
	s.exited = make(chan error, 1)
	go func() { s.exited <- reaper.Wait(cmd) }()
	ready, err := s.conn.WaitReady(ctx)
	if err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s: %w", b.m.name, err)
	}
	tl.Mark(backend.PhaseReady)
	tl.SetReady(ready)
	s.ready = true
	return s, nil
}

type sandbox struct {
	b       *Backend
	cmd     *exec.Cmd
	qmpPath string
	tl      *backend.Timeline
	conn    *backend.AgentConn
	exited  chan error
	ready   bool // the agent answered: it can be asked to exit
	closed  bool
}

func (s *sandbox) Run(ctx context.Context, req agent.Request) (*agent.Result, error) {
	return s.conn.Run(ctx, req)
}

func (s *sandbox) Stats(context.Context) (backend.Stats, error) {
	return backend.Stats{HostPIDs: []int{s.cmd.Process.Pid}}, nil
}

func (s *sandbox) Timeline() *backend.Timeline { return s.tl }

// Close asks the agent to exit (it resets the guest, and -no-reboot ends
// QEMU); failing that, QMP "quit"; failing that, SIGKILL.
func (s *sandbox) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	ctx = context.WithoutCancel(ctx)
	grace := time.Duration(0) // a guest that never answered is not asked
	if s.ready {
		exitCtx, cancel := context.WithTimeout(ctx, exitGrace)
		_ = s.conn.Exit(exitCtx) // the console closes when QEMU exits
		cancel()
		grace = quitGrace
	}
	s.tl.Mark(backend.PhaseExit)
	var errs []error
	select {
	case <-s.exited:
	case <-time.After(grace):
		if err := s.quit(ctx); err != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
		select {
		case <-s.exited:
		case <-time.After(quitGrace):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	// Anything QEMU left in its group goes too.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	if err := os.Remove(s.qmpPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	s.tl.Mark(backend.PhaseDelete)
	return errors.Join(errs...)
}

func (s *sandbox) quit(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, quitGrace)
	defer cancel()
	c, err := dialQMP(qctx, s.qmpPath)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.execute("quit")
}

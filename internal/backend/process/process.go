// Package process is the native baseline: the agent runs as a plain child
// process, limited by the same cgroup settings that containers get.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostmem"
	"github.com/isobench/isobench/internal/reaper"
	"github.com/isobench/isobench/internal/workload"
)

// Name of the native baseline backend.
const Name backend.Name = "process"

func init() {
	backend.Register(backend.Registration{Name: Name, Kind: backend.KindProcess, New: New})
}

// Backend launches the agent with fork/exec.
type Backend struct {
	env backend.Env
}

var (
	_ backend.Backend    = (*Backend)(nil)
	_ backend.HostLinker = (*sandbox)(nil)
)

// New returns the process backend; it works wherever cgroups do.
func New(_ context.Context, env backend.Env) (backend.Backend, error) {
	if backend.CgroupLayout() == "unavailable" {
		return nil, backend.Unavailable("no cgroup filesystem at /sys/fs/cgroup, so limits cannot be applied", "mount cgroups (any Linux with systemd has them)")
	}
	return &Backend{env: env}, nil
}

func (b *Backend) Name() backend.Name { return Name }

func (b *Backend) Info() backend.Info {
	return backend.Info{
		Name: Name, Kind: backend.KindProcess, Accel: backend.AccelNative,
		Version: runtime.GOOS + "/" + runtime.GOARCH,
		Notes:   []string{"limits cgroup /" + backend.IDPrefix + "<id> created by isobench; on cgroup v1 the agent joins it right after exec"},
	}
}

// exitGrace is how long an agent gets to exit on request before it is killed.
const exitGrace = 3 * time.Second

// Launch starts the agent and waits for its ready frame.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, err
	}
	tl := backend.NewTimeline()
	cg, err := backend.NewCgroup(spec.ID, spec.Limits)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	// A private temp dir on the run's work dir (tmpfs under /run), like
	// the tmpfs /tmp that every container gets, instead of the host's /tmp.
	tmp := filepath.Join(b.env.WorkDir, "process-tmp", spec.ID)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		_ = cg.Delete()
		return nil, fmt.Errorf("process: temp dir: %w", err)
	}
	undo := func() { _ = cg.Delete(); _ = os.RemoveAll(tmp) }
	cmd := exec.Command(b.env.AgentPath, "agent")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp}
	if b.env.Image != "" {
		cmd.Env = append(cmd.Env, backend.ImageEnv+"="+b.env.Image)
	}
	if b.env.Rootfs != "" {
		cmd.Env = append(cmd.Env, workload.RootfsEnv+"="+b.env.Rootfs)
	}
	if spec.Scratch != "" {
		cmd.Env = append(cmd.Env, workload.ScratchEnv+"="+spec.Scratch)
		if spec.WritableRoot {
			// The native process's root filesystem is the host's own,
			// which is where the scratch volume lives.
			cmd.Env = append(cmd.Env, workload.RootDirEnv+"="+spec.Scratch)
		}
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A descendant that escaped the group kill must not block Wait on the
	// stderr copy forever.
	cmd.WaitDelay = exitGrace
	if fd := cg.FD(); fd >= 0 {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = fd
	}
	stderr := backend.NewTailBuffer(4096)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		undo()
		return nil, fmt.Errorf("process: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		undo()
		return nil, fmt.Errorf("process: stdout pipe: %w", err)
	}
	if err := reaper.Start(cmd); err != nil {
		undo()
		return nil, fmt.Errorf("process: start agent %s: %w", b.env.AgentPath, err)
	}
	tl.Mark(backend.PhaseSpawn)
	s := &sandbox{cmd: cmd, cg: cg, tl: tl, tmp: tmp, conn: backend.NewAgentConn(stdin, stdout, stderr)}
	if cg.FD() < 0 {
		if err := cg.Add(cmd.Process.Pid); err != nil {
			_ = s.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("process: join cgroup: %w", err)
		}
		tl.Mark(backend.PhaseCgroup)
	}
	ready, err := s.conn.WaitReady(ctx)
	if err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("process: %w", err)
	}
	tl.Mark(backend.PhaseReady)
	tl.SetReady(ready)
	return s, nil
}

type sandbox struct {
	cmd    *exec.Cmd
	cg     *backend.Cgroup
	tmp    string
	tl     *backend.Timeline
	conn   *backend.AgentConn
	closed bool
}

func (s *sandbox) Run(ctx context.Context, req agent.Request) (*agent.Result, error) {
	return s.conn.Run(ctx, req)
}

func (s *sandbox) Stats(context.Context) (backend.Stats, error) {
	return backend.Stats{HostPIDs: backend.MainFirst(s.cmd.Process.Pid, hostmem.WithDescendants(s.cmd.Process.Pid))}, nil
}

func (s *sandbox) Timeline() *backend.Timeline { return s.tl }

// HostAddr: the native process shares the host's network stack, so its
// path to a host peer is the host's loopback (no isolation, no veth).
func (s *sandbox) HostAddr() (string, string) { return "127.0.0.1", "" }

// Close asks the agent to exit, kills its process group if it does not, and
// removes the cgroup. It uses its own deadline, not the caller's.
func (s *sandbox) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	exitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exitGrace)
	defer cancel()
	var errs []error
	_ = s.conn.Exit(exitCtx)
	// Whether the agent exited or hangs, its process group goes: anything
	// it left behind would keep the cgroup (and its stderr pipe) busy.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	werr := reaper.Wait(s.cmd)
	var exitErr *exec.ExitError
	if werr != nil && !errors.As(werr, &exitErr) {
		errs = append(errs, fmt.Errorf("wait for agent: %w", werr))
	}
	s.tl.Mark(backend.PhaseExit)
	s.cg.Kill() // a tool's server in its own process group, if any
	if err := s.cg.Delete(); err != nil {
		errs = append(errs, err)
	}
	s.tl.Mark(backend.PhaseDelete)
	if err := os.RemoveAll(s.tmp); err != nil {
		errs = append(errs, fmt.Errorf("remove temp dir: %w", err))
	}
	return errors.Join(errs...)
}

package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostmem"
	"github.com/isobench/isobench/internal/workload"
)

// capsKept are the capabilities the agent keeps, as in the OCI backends.
var capsKept = []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"}

// Launch creates the container, attaches to its stdio, starts it and waits
// for the agent's ready frame: the calls `docker run` makes. A network
// workload's bridge network is made first, outside the timeline, as a
// container's veth is for the OCI backends.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, err
	}
	s := &sandbox{b: b, id: spec.ID, noLink: "the sandbox was launched without a network"}
	if spec.Network && b.noLink != "" {
		s.noLink = b.noLink
	} else if spec.Network {
		lnk, err := b.newLink(ctx, spec.ID)
		if err != nil {
			return nil, fmt.Errorf("%s: network for %s: %w", b.f.name, spec.ID, err)
		}
		s.link, s.noLink = lnk, ""
	}
	s.tl = backend.NewTimeline()
	if err := s.launch(ctx, spec); err != nil {
		s.cleanup(ctx)
		return nil, fmt.Errorf("%s: %w", b.f.name, err)
	}
	return s, nil
}

func (s *sandbox) launch(ctx context.Context, spec backend.Spec) error {
	b := s.b
	cid, err := b.api.ContainerCreate(ctx, spec.ID, b.containerConfig(spec, s.link))
	if err != nil {
		// A create the client gave up on may still complete in the daemon.
		s.createUnsure = ctx.Err() != nil
		return fmt.Errorf("create: %w", err)
	}
	s.cid = cid
	s.tl.Mark(backend.PhaseCreate)
	// Attach before start, as `docker run` does, so no output is missed.
	att, err := b.api.Attach(ctx, s.cid)
	if err != nil {
		return err
	}
	s.attach = att
	stdout, stdoutW := io.Pipe()
	stderr := backend.NewTailBuffer(4096)
	go func() { stdoutW.CloseWithError(att.Demux(stdoutW, stderr)) }()
	s.conn = backend.NewAgentConn(att, stdout, stderr)
	if err := b.api.ContainerStart(ctx, s.cid); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	s.tl.Mark(backend.PhaseStart)
	ready, err := s.conn.WaitReady(ctx)
	if err != nil {
		return err
	}
	s.tl.Mark(backend.PhaseReady)
	s.tl.SetReady(ready)
	// The shim outlives the container's removal for a moment; teardown
	// waits for it. Found off the launch path, so no phase pays for it.
	s.shim = make(chan int, 1)
	go func() {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeLimit)
		defer cancel()
		_, shim, _ := b.processes(pctx, s.cid)
		s.shim <- shim
	}()
	return nil
}

// containerConfig is the container: the agent image's agent, stdin kept
// open for requests, the run's limits through the same cgroup settings the
// OCI backends write, and no network unless the sandbox has its own.
func (b *Backend) containerConfig(spec backend.Spec, lnk *link) *ContainerConfig {
	env := []string{"PATH=/usr/bin:/bin"}
	host := HostConfig{
		NetworkMode:    "none",
		Runtime:        b.f.runtime,
		ReadonlyRootfs: !spec.WritableRoot,
		CapDrop:        []string{"ALL"},
		CapAdd:         capsKept,
		SecurityOpt:    []string{"no-new-privileges"},
		// Docker's tmpfs default is noexec; the spawn workload runs from /tmp.
		Tmpfs: map[string]string{"/tmp": "rw,exec,nosuid,nodev,mode=1777"},
	}
	r := backend.OCIResources(spec.Limits)
	host.CPUPeriod, host.CPUQuota, host.Memory = int64(*r.CPU.Period), *r.CPU.Quota, *r.Memory.Limit
	if r.Memory.Swap != nil {
		host.MemorySwap = *r.Memory.Swap
	}
	if r.Pids != nil {
		host.PidsLimit = *r.Pids.Limit
	}
	switch {
	case spec.WritableRoot:
		env = append(env, workload.RootDirEnv+"="+backend.RootDirInSandbox)
	case spec.Scratch != "":
		host.Binds = []string{spec.Scratch + ":" + backend.ScratchInSandbox + ":rw"}
		env = append(env, workload.ScratchEnv+"="+backend.ScratchInSandbox)
	}
	cfg := &ContainerConfig{
		Image: b.imageFor(spec), Cmd: []string{agentInImage, "agent"}, Env: env, WorkingDir: "/",
		OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Labels: b.labels(), HostConfig: host,
	}
	if lnk != nil {
		cfg.HostConfig.NetworkMode = lnk.name
		cfg.NetworkingConfig = &NetworkingConfig{EndpointsConfig: map[string]EndpointSettings{
			lnk.name: {IPAMConfig: &EndpointIPAMConfig{IPv4Address: lnk.addrs.SandboxIP.String()}},
		}}
	}
	return cfg
}

type sandbox struct {
	b      *Backend
	id     string
	cid    string // the daemon's container id, once created
	attach *Attached
	conn   *backend.AgentConn
	tl     *backend.Timeline
	closed bool
	// createUnsure: the create call was cancelled, the container may exist.
	createUnsure bool
	shim         chan int // the container's shim pid (0: unknown), once ready
	link         *link    // the sandbox's own network, if any
	noLink       string   // otherwise, why not
}

var (
	_ backend.Sandbox    = (*sandbox)(nil)
	_ backend.HostLinker = (*sandbox)(nil)
)

func (s *sandbox) Run(ctx context.Context, req agent.Request) (*agent.Result, error) {
	return s.conn.Run(ctx, req)
}

// Stats names the container's shim and everything below it: the init
// process the daemon reports (runc's container, or runsc's sandbox) and
// runsc's gofer. The daemon and containerd serve every container and are
// not counted.
// LimitHits: Docker removes a dead container's cgroup at once, so the
// daemon's own record of an OOM kill is the one that survives.
func (s *sandbox) LimitHits(ctx context.Context) (backend.CgroupEvents, error) {
	oom, err := s.b.api.ContainerOOMKilled(ctx, s.cid)
	if err != nil {
		return backend.CgroupEvents{}, fmt.Errorf("%s: %s: %w", s.b.f.name, s.id, err)
	}
	var e backend.CgroupEvents
	if oom {
		e.OOMKills = 1
	}
	return e, nil
}

var _ backend.LimitReporter = (*sandbox)(nil)

func (s *sandbox) Stats(ctx context.Context) (backend.Stats, error) {
	pid, shim, err := s.b.processes(ctx, s.cid)
	if err != nil {
		return backend.Stats{}, fmt.Errorf("%s: %s: %w", s.b.f.name, s.id, err)
	}
	return backend.Stats{HostPIDs: backend.MainFirst(pid, hostmem.WithDescendants(shim))}, nil
}

// processes finds a running container's init process and the shim that
// serves it (the init process itself if its parent is no per-container
// shim: containerd's descendants are every container's).
func (b *Backend) processes(ctx context.Context, cid string) (pid, shim int, err error) {
	pid, err = b.api.ContainerPID(ctx, cid)
	if err != nil {
		return 0, 0, fmt.Errorf("inspect: %w", err)
	}
	if pid == 0 {
		return 0, 0, errors.New("the container is not running")
	}
	shim = pid
	if ppid, err := hostmem.PPID(pid); err == nil {
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid)); err == nil && strings.Contains(string(comm), "shim") {
			shim = ppid
		}
	}
	return pid, shim, nil
}

func (s *sandbox) Timeline() *backend.Timeline { return s.tl }

func (s *sandbox) HostAddr() (string, string) {
	if s.link != nil {
		return s.link.addrs.HostIP.String(), ""
	}
	return "", s.noLink
}

// Close asks the agent to exit (kills the container if it does not), then
// removes the container and its network.
func (s *sandbox) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	return backend.ContainerTeardown{Conn: s.conn, Timeline: s.tl, ExitGrace: exitGrace,
		Kill: s.kill, Remove: s.remove, RemoveLink: s.removeLink}.Run(ctx)
}

// cleanup removes what a failed launch made.
func (s *sandbox) cleanup(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if s.conn != nil {
		s.conn.CloseInput()
	}
	_ = s.remove(ctx)
	_ = s.removeLink(ctx)
}

func (s *sandbox) kill(ctx context.Context) {
	kctx, cancel := context.WithTimeout(ctx, exitGrace)
	defer cancel()
	_ = s.b.api.ContainerKill(kctx, s.cid, "KILL")
	_ = s.conn.WaitClosed(kctx)
}

func (s *sandbox) remove(ctx context.Context) error {
	s.closed = true
	err := s.removeContainer(ctx)
	if s.attach != nil {
		s.attach.Shutdown()
	}
	if s.shim != nil && err == nil {
		if shim := <-s.shim; shim > 0 && !backend.WaitGone(shim, removeLimit) {
			err = fmt.Errorf("%s: shim %d of %s still running %s after the container's removal", s.b.f.name, shim, s.id, removeLimit)
		}
	}
	return err
}

// removeContainer force-removes the container. One whose create was
// cancelled has no id yet, and the daemon may still be creating it: it is
// removed by name, and a "no such container" is believed only after the
// daemon had time to finish that create.
func (s *sandbox) removeContainer(ctx context.Context) error {
	ref := s.cid
	if ref == "" {
		if !s.createUnsure {
			return nil
		}
		ref = s.id
	}
	deadline := time.Now().Add(createSettle)
	for {
		rctx, cancel := context.WithTimeout(ctx, removeLimit)
		err := s.b.api.ContainerRemove(rctx, ref)
		cancel()
		switch {
		case err == nil:
			return nil
		case !IsNotFound(err):
			return fmt.Errorf("%s remove %s: %w", s.b.f.name, s.id, err)
		case s.cid != "" || time.Now().After(deadline):
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sandbox) removeLink(ctx context.Context) error {
	if s.link == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, removeLimit)
	defer cancel()
	if err := s.b.removeLink(lctx, s.link); err != nil {
		return fmt.Errorf("%s remove network: %w", s.b.f.name, err)
	}
	s.link = nil
	return nil
}

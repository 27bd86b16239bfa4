package oci

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostmem"
	"github.com/isobench/isobench/internal/reaper"
)

// flavor is one registered OCI backend: a runtime binary plus global flags.
type flavor struct {
	name     backend.Name
	kind     backend.Kind
	binary   string
	pkg      string // Debian/Ubuntu package that provides binary
	global   []string
	notes    []string
	prepare  func(f *flavor, rt *Runtime, env backend.Env) error // host checks before the probe
	probeFix string                                              // what to do when the probe fails
}

func init() {
	for _, f := range flavors() {
		backend.Register(backend.Registration{Name: f.name, Kind: f.kind, New: f.construct})
	}
}

func flavors() []*flavor {
	return []*flavor{
		{name: "runc", kind: backend.KindContainer, binary: "runc", pkg: "runc",
			probeFix: "check `runc --root /tmp/t run` of a bundle by hand; runc needs root and cgroups"},
		{name: "crun", kind: backend.KindContainer, binary: "crun", pkg: "crun", prepare: prepareCrun,
			probeFix: "see docs/backends.md#crun"},
		runscFlavor("ptrace"),
		runscFlavor("systrap"),
		runscFlavor("kvm"),
	}
}

func runscFlavor(platform string) *flavor {
	f := &flavor{
		name: backend.Name("runsc-" + platform), kind: backend.KindGVisor, binary: "runsc", pkg: "runsc",
		// gVisor's own netstack is not under test here, and Debian's runsc
		// fails to set it up in a fresh network namespace on recent kernels.
		global:   []string{"--platform=" + platform, "--network=none"},
		probeFix: "see docs/backends.md#gvisor",
	}
	if platform == "kvm" {
		f.prepare = func(*flavor, *Runtime, backend.Env) error {
			if _, err := os.Stat("/dev/kvm"); err != nil {
				return backend.Unavailable("no /dev/kvm on this host", "enable hardware virtualization (or use runsc-systrap / runsc-ptrace)")
			}
			return nil
		}
		f.probeFix = "the kvm platform needs /dev/kvm with hardware virtualization (not nested PVM); use runsc-systrap or runsc-ptrace"
	}
	if platform == "systrap" {
		f.probeFix = "systrap needs gVisor release 20230605 or newer; see docs/backends.md#gvisor"
	}
	return f
}

// Backend launches agent containers through one OCI runtime.
type Backend struct {
	linkIndex atomic.Uint32 // picks each networked sandbox's /30
	netRT     *Runtime      // gVisor: the same runtime with its own netstack on
	netOnce   sync.Once
	netReason string // why gVisor's netstack cannot be used here, if so
	f         *flavor
	rt        *Runtime
	version   Version
	rootfs    string
	bundles   string
	env       backend.Env
}

var _ backend.Backend = (*Backend)(nil)

func (f *flavor) construct(ctx context.Context, env backend.Env) (backend.Backend, error) {
	if err := reaper.Enable(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	path, err := exec.LookPath(f.binary)
	if err != nil {
		return nil, backend.Unavailable(f.binary+" not found in PATH", "apt-get install "+f.pkg)
	}
	dir := filepath.Join(env.WorkDir, string(f.name))
	rt := &Runtime{Binary: path, Root: filepath.Join(dir, "state"), Global: f.global, Log: env.Log}
	vctx, cancel := context.WithTimeout(ctx, env.ProbeTimeout)
	defer cancel()
	v, err := rt.Version(vctx)
	if err != nil {
		return nil, backend.Unavailable(fmt.Sprintf("%s --version failed: %v", path, err), "reinstall with apt-get install --reinstall "+f.pkg)
	}
	if v.Version == "VERSION_MISSING" || v.Version == "" {
		// A runsc built with `go install` has no version stamped in; the Go
		// build info still names the module version it was built from.
		if bi, err := buildinfo.ReadFile(path); err == nil && bi.Main.Version != "" {
			v.Version = bi.Main.Path + "@" + bi.Main.Version
		}
	}
	// Copy the flavor: prepare may add notes for this host only.
	fl := *f
	if fl.prepare != nil {
		if err := fl.prepare(&fl, rt, env); err != nil {
			return nil, err
		}
	}
	b := &Backend{f: &fl, rt: rt, netRT: withNetstack(rt), version: v, rootfs: filepath.Join(dir, "rootfs"), bundles: filepath.Join(dir, "bundles"), env: env}
	if err := os.MkdirAll(rt.Root, 0o700); err != nil {
		return nil, fmt.Errorf("%s: state dir: %w", f.name, err)
	}
	if err := prepareRootfs(b.rootfs, env.AgentPath, env.Image); err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	if err := b.probe(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// probe launches one container, bounded in time: a runtime that is installed
// but cannot start a container here (or hangs) is unavailable, not a failure
// in the middle of a run.
func (b *Backend) probe(ctx context.Context) error {
	id := fmt.Sprintf("%s%s-probe-%s", backend.IDPrefix, b.env.RunID, b.f.name)
	err, closeErr := backend.ProbeLaunch(ctx, b.env, b, id)
	if err != nil {
		reason := fmt.Sprintf("probe container did not start: %v", err)
		if strings.Contains(err.Error(), "unknown platform") {
			reason = fmt.Sprintf("the installed %s (version %s) has no %s platform", b.f.binary, b.version.Version, strings.TrimPrefix(string(b.f.name), "runsc-"))
		} else if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("probe container was not ready within %s (the runtime hangs on this host): %v", b.env.ProbeTimeout, err)
		}
		return backend.Unavailable(reason, b.f.probeFix)
	}
	if closeErr != nil {
		return fmt.Errorf("%s: clean up probe container: %w", b.f.name, closeErr)
	}
	return nil
}

func (b *Backend) Name() backend.Name { return b.f.name }

func (b *Backend) Info() backend.Info {
	return backend.Info{
		Name: b.f.name, Kind: b.f.kind, Accel: backend.AccelNative,
		Version: b.version.Version, Binary: b.rt.Binary,
		Config:       append(append([]string{}, b.rt.Global...), wrapperNote(b.rt)...),
		Notes:        b.f.notes,
		Capabilities: backend.Capabilities{Snapshot: b.f.kind == backend.KindGVisor},
	}
}

func wrapperNote(rt *Runtime) []string {
	if len(rt.Wrapper) == 0 {
		return nil
	}
	return []string{"wrapper: " + strings.Join(rt.Wrapper[1:], " ")}
}

// Timeouts for the steps of Close; cleanup never waits on the caller's ctx.
const (
	exitGrace   = 3 * time.Second
	killGrace2  = 2 * time.Second
	deleteLimit = 10 * time.Second
)

// Launch creates and starts a container and waits for the agent's ready frame.
// The bundle's config.json is written before the timeline starts, as it is
// for `runc run` with an existing bundle.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, err
	}
	rt, lnk, noLink, err := b.network(ctx, spec)
	if err != nil {
		return nil, err
	}
	return b.launch(ctx, spec, rt, lnk, noLink, "")
}

// network prepares the sandbox's link before the timeline starts (CNI does
// this for containerd; it is not part of the runtime's cold start) and
// picks the runtime settings that go with it.
func (b *Backend) network(ctx context.Context, spec backend.Spec) (*Runtime, *link, string, error) {
	if !spec.Network {
		return b.rt, nil, "the sandbox was launched without a network", nil
	}
	rt := b.rt
	if b.f.kind == backend.KindGVisor {
		if reason := b.gvisorNetwork(ctx); reason != "" {
			return b.rt, nil, reason, nil
		}
		rt = b.netRT
	}
	lnk := newLink(backend.IDPrefix+b.env.RunID, spec.ID, b.linkIndex.Add(1))
	if err := lnk.setUp(ctx); err != nil {
		return nil, nil, "", fmt.Errorf("%s: network for %s: %w", b.f.name, spec.ID, err)
	}
	return rt, lnk, "", nil
}

// gvisorNetwork finds out, once, whether runsc's own netstack
// (--network=sandbox) starts here, by launching a probe sandbox on a link;
// it returns why not, or "".
func (b *Backend) gvisorNetwork(ctx context.Context) string {
	b.netOnce.Do(func() {
		id := fmt.Sprintf("%s%s-probe-net-%s", backend.IDPrefix, b.env.RunID, b.f.name)
		lnk := newLink(backend.IDPrefix+b.env.RunID, id, b.linkIndex.Add(1))
		pctx, cancel := context.WithTimeout(ctx, b.env.ProbeTimeout)
		defer cancel()
		if err := lnk.setUp(pctx); err != nil {
			b.netReason = fmt.Sprintf("cannot make a link for runsc: %v", err)
			return
		}
		sb, err := b.launch(pctx, backend.Spec{ID: id, Limits: backend.Limits{CPUs: 1, MemoryBytes: 256 << 20}, Network: true}, b.netRT, lnk, "", "")
		if err != nil {
			b.netReason = fmt.Sprintf("runsc's netstack (--network=sandbox) does not start here, so only gVisor's loopback is measured (a current runsc works: docs/backends.md#gvisor): %v", err)
			return
		}
		if err := sb.Close(context.WithoutCancel(ctx)); err != nil {
			b.netReason = fmt.Sprintf("runsc --network=sandbox probe did not clean up: %v", err)
		}
	})
	return b.netReason
}

// launch starts a sandbox with the given runtime settings and link, or
// with image set, restores that checkpoint into it; on failure it removes
// the link too.
func (b *Backend) launch(ctx context.Context, spec backend.Spec, rt *Runtime, lnk *link, noLink, image string) (backend.Sandbox, error) {
	extra := sandboxExtras{scratch: spec.Scratch}
	if lnk != nil {
		extra.netnsPath = lnk.nsPath()
	}
	bundle := filepath.Join(b.bundles, spec.ID)
	undo := func() {
		if extra.rootfs != "" {
			_ = unmountOverlay(extra.rootfs)
		}
		_ = os.RemoveAll(bundle)
		if lnk != nil {
			_ = lnk.remove(context.WithoutCancel(ctx))
		}
	}
	if spec.WritableRoot {
		if spec.Scratch == "" {
			undo()
			return nil, fmt.Errorf("%s: a writable root needs a scratch volume for its upper layer", b.f.name)
		}
		merged, err := mountOverlay(b.root(spec.Tools), spec.Scratch, filepath.Join(bundle, "rootfs"))
		if err != nil {
			undo()
			return nil, fmt.Errorf("%s: writable root: %w", b.f.name, err)
		}
		extra.rootfs, extra.scratch = merged, ""
	}
	if err := writeBundle(bundle, containerSpec(spec.ID, b.root(spec.Tools), spec.Limits, b.withAgent(extra, spec.Tools))); err != nil {
		undo()
		return nil, err
	}
	p, err := newPipes()
	if err != nil {
		undo()
		return nil, err
	}
	stderr := backend.NewTailBuffer(4096)
	stderrDone := make(chan struct{})
	go func() { _, _ = io.Copy(stderr, p.stderrR); close(stderrDone) }()
	s := &sandbox{b: b, rt: rt, id: spec.ID, bundle: bundle, pipes: p, stderrDone: stderrDone, link: lnk, noLink: noLink, overlay: extra.rootfs}
	s.conn = backend.NewAgentConn(p.stdinW, p.stdoutR, stderr)

	s.tl = backend.NewTimeline()
	launch := s.launchPhased
	switch {
	case image != "":
		launch = func(ctx context.Context, stderr *backend.TailBuffer, stderrDone chan struct{}) error {
			return s.launchRestore(ctx, image, stderr, stderrDone)
		}
	case b.env.LaunchMode == backend.LaunchOneshot:
		launch = s.launchOneshot
	}
	if err := launch(ctx, stderr, stderrDone); err != nil {
		return nil, err
	}
	return s, nil
}

// launchPhased creates, starts and waits for ready as separate timed steps.
func (s *sandbox) launchPhased(ctx context.Context, stderr *backend.TailBuffer, stderrDone chan struct{}) error {
	b, p := s.b, s.pipes
	err := s.rt.Create(ctx, s.id, s.bundle, &CreateOpts{PidFile: filepath.Join(s.bundle, "pid"), IO: p.child()})
	p.closeChildEnds()
	s.created = true
	if err != nil {
		s.cleanup(ctx)
		// The runtime's own message went to the container's stderr pipe.
		<-stderrDone
		return fmt.Errorf("%s create: %w: %s", b.f.name, err, stderr.String())
	}
	s.tl.Mark(backend.PhaseCreate)
	if err := s.rt.Start(ctx, s.id); err != nil {
		s.cleanup(ctx)
		return fmt.Errorf("%s start: %w", b.f.name, err)
	}
	s.tl.Mark(backend.PhaseStart)
	return s.waitReady(ctx)
}

// launchOneshot makes one foreground `run` call that lives as long as the
// container; the split before ready comes from the agent's own clock.
func (s *sandbox) launchOneshot(ctx context.Context, stderr *backend.TailBuffer, stderrDone chan struct{}) error {
	b, p := s.b, s.pipes
	// The run process outlives Launch: it must not die with Launch's ctx.
	cmd := s.rt.command(context.WithoutCancel(ctx), "run", "--bundle", s.bundle, "--pid-file", filepath.Join(s.bundle, "pid"), s.id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.stdinR, p.stdoutW, p.stderrW
	err := reaper.Start(cmd)
	p.closeChildEnds()
	s.created = true
	if err != nil {
		s.cleanup(ctx)
		return fmt.Errorf("%s run: %w", b.f.name, err)
	}
	s.runCmd = cmd
	s.runDone = make(chan error, 1)
	go func() { s.runDone <- reaper.Wait(cmd) }()
	if err := s.waitReady(ctx); err != nil {
		<-stderrDone
		return fmt.Errorf("%w: %s", err, stderr.String())
	}
	return nil
}

func (s *sandbox) waitReady(ctx context.Context) error {
	ready, err := s.conn.WaitReady(ctx)
	if err != nil {
		s.cleanup(ctx)
		return fmt.Errorf("%s: %w", s.b.f.name, err)
	}
	if s.runCmd != nil {
		s.tl.MarkAt(backend.PhaseRuntime, time.Unix(0, ready.StartUnixNano))
	}
	s.tl.Mark(backend.PhaseReady)
	s.tl.SetReady(ready)
	return nil
}

// pipes are the container's stdio. The child ends go to `create`, which
// hands them to the container process; the parent closes its copies so that
// the container's exit is seen as end of output.
type pipes struct {
	stdinR, stdinW   *os.File
	stdoutR, stdoutW *os.File
	stderrR, stderrW *os.File
}

func newPipes() (*pipes, error) {
	var p pipes
	var err error
	if p.stdinR, p.stdinW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if p.stdoutR, p.stdoutW, err = os.Pipe(); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if p.stderrR, p.stderrW, err = os.Pipe(); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	return &p, nil
}

func (p *pipes) child() *IO { return &IO{Stdin: p.stdinR, Stdout: p.stdoutW, Stderr: p.stderrW} }

func (p *pipes) closeChildEnds() {
	for _, f := range []*os.File{p.stdinR, p.stdoutW, p.stderrW} {
		if f != nil {
			_ = f.Close()
		}
	}
}

func (p *pipes) closeAll() {
	p.closeChildEnds()
	for _, f := range []*os.File{p.stdinW, p.stdoutR, p.stderrR} {
		if f != nil {
			_ = f.Close()
		}
	}
}

type sandbox struct {
	b          *Backend
	id         string
	bundle     string
	pipes      *pipes
	conn       *backend.AgentConn
	tl         *backend.Timeline
	stderrDone chan struct{}
	created    bool
	closed     bool
	runCmd     *exec.Cmd  // one-shot mode: the foreground `run`
	runDone    chan error // its exit
	rt         *Runtime   // the runtime settings this sandbox was made with
	link       *link      // set when the sandbox has a veth to the host
	noLink     string     // otherwise, why not
	overlay    string     // mounted writable root, if any
}

func (s *sandbox) Run(ctx context.Context, req agent.Request) (*agent.Result, error) {
	return s.conn.Run(ctx, req)
}

func (s *sandbox) Stats(context.Context) (backend.Stats, error) {
	b, err := os.ReadFile(filepath.Join(s.bundle, "pid"))
	if err != nil {
		return backend.Stats{}, fmt.Errorf("%s: read pid file: %w", s.b.f.name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return backend.Stats{}, fmt.Errorf("%s: pid file holds %q", s.b.f.name, b)
	}
	// runsc's sandbox (the Sentry) and gofer name the bundle; runc's
	// container is the agent and what it started.
	return backend.Stats{HostPIDs: backend.MainFirst(pid, hostmem.WithDescendants(append(backend.ProcessesMentioning(s.bundle+"/"), pid)...))}, nil
}

func (s *sandbox) Timeline() *backend.Timeline { return s.tl }

// HostAddr is the host end of the sandbox's veth, if it has one.
func (s *sandbox) HostAddr() (string, string) {
	if s.link != nil {
		return s.link.hostAddr(), ""
	}
	return "", s.noLink
}

// Close asks the agent to exit (kills it if it does not), then deletes the
// container and its bundle.
func (s *sandbox) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	return backend.ContainerTeardown{Conn: s.conn, Timeline: s.tl, ExitGrace: exitGrace,
		Kill: s.kill, Remove: s.remove, RemoveLink: s.removeLink}.Run(ctx)
}

func (s *sandbox) removeLink(ctx context.Context) error {
	if s.link == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteLimit)
	defer cancel()
	if err := s.link.remove(lctx); err != nil {
		return fmt.Errorf("%s remove network: %w", s.b.f.name, err)
	}
	s.link = nil
	return nil
}

// cleanup removes a sandbox whose launch failed part-way.
func (s *sandbox) cleanup(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	s.conn.CloseInput()
	if s.created {
		s.kill(ctx)
	}
	_ = s.remove(ctx)
	// A create that hung (runsc on a platform that cannot run here) may
	// have left a sandbox the runtime itself no longer knows about.
	s.killStragglers()
	_ = backend.RemoveLeftoverCgroups(s.id)
	_ = s.removeLink(ctx)
}

// killStragglers kills whatever still names this sandbox's bundle in its
// arguments (runsc's sandbox and gofer do) and reaps it.
func (s *sandbox) killStragglers() {
	if backend.KillMentioning(s.bundle+"/")+backend.KillMentioning(s.bundle+"\x00") > 0 {
		time.Sleep(10 * time.Millisecond)
		reaper.ReapOrphans()
	}
}

func (s *sandbox) kill(ctx context.Context) {
	kctx, cancel := context.WithTimeout(ctx, killGrace2)
	defer cancel()
	_ = s.rt.Kill(kctx, s.id, syscall.SIGKILL)
	_ = s.conn.WaitClosed(kctx)
}

func (s *sandbox) remove(ctx context.Context) error {
	s.closed = true
	var errs []error
	if s.runCmd != nil {
		// `run` deletes the container itself once its process has exited.
		select {
		case <-s.runDone:
		case <-time.After(deleteLimit):
			_ = syscall.Kill(-s.runCmd.Process.Pid, syscall.SIGKILL)
			<-s.runDone
		}
	}
	if s.created && !s.runExitedClean() {
		if err := s.delete(ctx, nil); err != nil {
			if ferr := s.delete(ctx, &DeleteOpts{Force: true}); ferr != nil && !notExist(ferr) {
				errs = append(errs, fmt.Errorf("%s delete %s: %w", s.b.f.name, s.id, ferr))
			}
			s.killStragglers()
		}
	}
	if err := backend.RemoveLeftoverCgroups(s.id); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", s.b.f.name, err))
	}
	s.pipes.closeAll()
	reaper.ReapOrphans()
	if s.overlay != "" {
		// Never RemoveAll through a mount: unmount first, or fail loudly.
		if err := unmountOverlay(s.overlay); err != nil {
			return errors.Join(append(errs, err)...)
		}
		s.overlay = ""
	}
	if err := os.RemoveAll(s.bundle); err != nil {
		errs = append(errs, fmt.Errorf("remove bundle: %w", err))
	}
	return errors.Join(errs...)
}

// delete runs one delete attempt with a deadline of its own, so that a
// hung first attempt leaves the forced retry its full time.
func (s *sandbox) delete(ctx context.Context, opts *DeleteOpts) error {
	dctx, cancel := context.WithTimeout(ctx, deleteLimit)
	defer cancel()
	return s.rt.Delete(dctx, s.id, opts)
}

// runExitedClean reports whether a one-shot `run` finished by itself with
// status 0, in which case it has already deleted the container.
func (s *sandbox) runExitedClean() bool {
	return s.runCmd != nil && s.runCmd.ProcessState != nil && s.runCmd.ProcessState.Success()
}

// notExist recognises the runtimes' "no such container" message: a create
// that failed early leaves nothing to delete.
func notExist(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "does not exist") || strings.Contains(msg, "not found") || strings.Contains(msg, "No such file")
}

// Sweep force-deletes every container left in this backend's state dir.
func (b *Backend) Sweep(ctx context.Context) ([]string, error) {
	ids, err := b.rt.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: list leftover containers: %w", b.f.name, err)
	}
	var errs []error
	for _, id := range ids {
		if err := b.rt.Delete(ctx, id, &DeleteOpts{Force: true}); err != nil {
			errs = append(errs, err)
		}
	}
	reaper.ReapOrphans()
	// runsc keeps an empty network namespace mounted at <root>/null-netns on
	// purpose, for later gofers to share; it is runtime state, not a leak.
	nullNetns := filepath.Join(b.rt.Root, "null-netns")
	if _, err := os.Stat(nullNetns); err == nil {
		if err := unix.Unmount(nullNetns, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", nullNetns, err))
		}
		_ = os.Remove(nullNetns)
	}
	return ids, errors.Join(errs...)
}

var (
	_ backend.Sweeper    = (*Backend)(nil)
	_ backend.HostLinker = (*sandbox)(nil)
)

// BareRun runs the container that Launch would create, from an identical
// bundle, through the bare runtime CLI with no harness in between: the
// baseline for measuring isobench's own overhead. One-shot mode is a single
// `run`; phased mode is `create`, `start`, a wait for the container's exit
// and `delete`, the same calls Launch makes. The agent's stdin is empty, so
// it exits right after its ready frame, as it does when isobench sends it
// the exit request.
func (b *Backend) BareRun(ctx context.Context, id string, limits backend.Limits) (time.Duration, error) {
	if err := backend.ValidID(id); err != nil {
		return 0, err
	}
	bundle := filepath.Join(b.bundles, id)
	if err := writeBundle(bundle, containerSpec(id, b.rootfs, limits, sandboxExtras{})); err != nil {
		return 0, err
	}
	defer os.RemoveAll(bundle)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	pidFile := filepath.Join(bundle, "pid")
	start := time.Now()
	if b.env.LaunchMode == backend.LaunchOneshot {
		cmd := b.rt.command(ctx, "run", "--bundle", bundle, id)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
		err = reaper.Run(cmd)
	} else {
		err = b.barePhased(ctx, id, bundle, pidFile, devnull)
	}
	took := time.Since(start)
	reaper.ReapOrphans()
	if err != nil {
		_ = b.rt.Delete(context.WithoutCancel(ctx), id, &DeleteOpts{Force: true})
		return 0, fmt.Errorf("%s bare %s: %w", b.f.name, b.env.LaunchMode, err)
	}
	return took, nil
}

func (b *Backend) barePhased(ctx context.Context, id, bundle, pidFile string, devnull *os.File) error {
	if err := b.rt.Create(ctx, id, bundle, &CreateOpts{PidFile: pidFile, IO: &IO{devnull, devnull, devnull}}); err != nil {
		return err
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("pid file holds %q", raw)
	}
	// The created container waits for start, so it cannot exit before this.
	reaper.Adopt(pid)
	if err := b.rt.Start(ctx, id); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killGrace2)
		defer cancel()
		_ = b.rt.Kill(cctx, id, syscall.SIGKILL)
		_ = reaper.WaitAdopted(cctx, pid)
		return err
	}
	if err := reaper.WaitAdopted(ctx, pid); err != nil {
		return fmt.Errorf("wait for container exit: %w", err)
	}
	return b.rt.Delete(ctx, id, nil)
}

// withNetstack returns rt with runsc's --network=none replaced by
// --network=sandbox: gVisor's own netstack on the container's interface.
func withNetstack(rt *Runtime) *Runtime {
	n := *rt
	n.Global = nil
	for _, g := range rt.Global {
		if g == "--network=none" {
			g = "--network=sandbox"
		}
		n.Global = append(n.Global, g)
	}
	return &n
}

// root is a container's root filesystem: the guest image for a tool
// workload (Env.Rootfs), else isobench's own minimal tree, so that the
// other workloads measure the same thing whether the run has tools or not.
func (b *Backend) root(tools bool) string {
	if tools && b.env.Rootfs != "" {
		return b.env.Rootfs
	}
	return b.rootfs
}

// withAgent bind-mounts the agent into the guest image, which is shared
// and read-only (the image holds an empty file at its path for the mount).
func (b *Backend) withAgent(extra sandboxExtras, tools bool) sandboxExtras {
	if tools && b.env.Rootfs != "" {
		extra.agent = filepath.Join(b.rootfs, agentInRootfs)
	}
	return extra
}

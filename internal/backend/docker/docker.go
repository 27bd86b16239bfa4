// Package docker launches agent containers through the Docker Engine API
// (honouring DOCKER_HOST), one backend per runtime registered with the
// daemon: runc, and runsc where registered.
package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// flavor is one registered Docker backend: the daemon's runtime it uses.
type flavor struct {
	name    backend.Name
	kind    backend.Kind
	runtime string // name in the daemon's runtimes (daemon.json)
	fix     string // how to register the runtime
}

var flavors = []flavor{
	{name: "docker", kind: backend.KindContainer, runtime: "runc",
		fix: "runc is Docker's default runtime; reinstall docker.io"},
	{name: "docker-runsc", kind: backend.KindGVisor, runtime: "runsc",
		fix: `install runsc (apt-get install runsc), add {"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}} to /etc/docker/daemon.json (or run ` + "`runsc install`" + `) and restart dockerd`},
}

func init() {
	for _, f := range flavors {
		backend.Register(backend.Registration{Name: f.name, Kind: f.kind, New: f.construct})
	}
}

// labelRun marks every container and network with the run that made it,
// so that a sweep finds a run's leftovers and no one else's.
const labelRun = "org.isobench.run"

// Timeouts of the steps of Close; cleanup never waits on the caller's ctx.
const (
	exitGrace   = 3 * time.Second
	removeLimit = 10 * time.Second
	// createSettle bounds how long a create the client gave up on may
	// still complete in the daemon.
	createSettle = 2 * time.Second
)

// Backend launches containers through one daemon runtime.
type Backend struct {
	f       flavor
	api     *Client
	env     backend.Env
	version string // the daemon's
	info    Info
	runtime string // the runtime's path and arguments, as the daemon reports them
	image   string
	// toolsImage is the guest image with the agent, for tool workloads ("" without one).
	toolsImage string
	noLink     string // why sandboxes cannot have a network here, if so
	linkIndex  atomic.Uint32
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Sweeper = (*Backend)(nil)
)

const daemonFix = "install docker.io and start the daemon (systemctl start docker; without systemd, scripts/dockerd.sh starts a private one), or point DOCKER_HOST at a running daemon"

func (f flavor) construct(ctx context.Context, env backend.Env) (backend.Backend, error) {
	api, err := NewClient()
	if err != nil {
		return nil, backend.Unavailable(fmt.Sprintf("Docker client: %v", err), "check DOCKER_HOST")
	}
	b := &Backend{f: f, api: api, env: env}
	if err := b.connect(ctx); err != nil {
		api.Close()
		return nil, err
	}
	// From here on a failure sweeps: the image, and whatever a probe left.
	fail := func(err error) (backend.Backend, error) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeLimit)
		_, _ = b.Sweep(sctx)
		cancel()
		api.Close()
		return nil, err
	}
	if err := b.ensureImage(ctx); err != nil {
		return fail(fmt.Errorf("%s: %w", f.name, err))
	}
	if err := b.probe(ctx); err != nil {
		return fail(err)
	}
	return b, nil
}

// connect checks that the daemon answers and has this flavor's runtime.
func (b *Backend) connect(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, b.env.ProbeTimeout)
	defer cancel()
	if err := b.api.Negotiate(cctx); err != nil {
		return backend.Unavailable(fmt.Sprintf("no usable Docker daemon at %s: %v", b.api.Host(), err), daemonFix)
	}
	v, err := b.api.Version(cctx)
	if err != nil {
		return backend.Unavailable(fmt.Sprintf("Docker daemon at %s: version: %v", b.api.Host(), err), daemonFix)
	}
	info, err := b.api.Info(cctx)
	if err != nil {
		return backend.Unavailable(fmt.Sprintf("Docker daemon at %s: info: %v", b.api.Host(), err), daemonFix)
	}
	b.version, b.info = v.Version, info
	rt, ok := info.Runtimes[b.f.runtime]
	if !ok {
		var have []string
		for name := range info.Runtimes {
			have = append(have, name)
		}
		slices.Sort(have)
		return backend.Unavailable(fmt.Sprintf("the Docker daemon at %s has no %q runtime registered (it has: %s)", b.api.Host(), b.f.runtime, strings.Join(have, ", ")), b.f.fix)
	}
	b.runtime = strings.TrimSpace(rt.Path + " " + strings.Join(rt.Args, " "))
	if b.f.runtime == "runsc" && slices.Contains(rt.Args, "--network=none") {
		b.noLink = "runsc is registered with --network=none, so gVisor has loopback only; register it without that flag for a network (a current runsc is needed on some kernels: docs/backends.md#gvisor)"
	}
	return nil
}

// probe launches one container, bounded in time: a daemon that answers but
// cannot start a container here is unavailable, not a failure mid-run.
func (b *Backend) probe(ctx context.Context) error {
	id := fmt.Sprintf("%s%s-probe-%s", backend.IDPrefix, b.env.RunID, b.f.name)
	launchErr, closeErr := backend.ProbeLaunch(ctx, b.env, b, id)
	if launchErr != nil {
		return backend.Unavailable(fmt.Sprintf("probe container did not start: %v", launchErr), "check `docker run --rm --runtime "+b.f.runtime+" busybox true` by hand; the daemon's log says more")
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
		Version: b.version, Binary: b.api.Host(),
		Config: []string{"runtime " + b.f.runtime + " (" + b.runtime + ")", "image " + b.image,
			"storage driver " + b.info.Driver + ", cgroup driver " + b.info.CgroupDriver + " (cgroup v" + b.info.CgroupVersion + ")",
			"network none (a bridge network of its own, internal, for network workloads)",
			"read-only root, tmpfs /tmp, all capabilities dropped but KILL, NET_BIND_SERVICE, AUDIT_WRITE, no-new-privileges"},
		Notes: []string{
			"Docker Engine API " + b.api.APIVersion() + ": create, attach, start, wait for the agent, remove — the calls `docker run` makes",
			"a writable root is the daemon's own storage driver layer in its data-root",
		},
	}
}

// Sweep force-removes every container and network of this run, and the
// run's agent image. The runner calls it at the end of every run.
func (b *Backend) Sweep(ctx context.Context) ([]string, error) {
	label := labelRun + "=" + b.env.RunID
	var ids []string
	var errs []error
	// Each step goes on when an earlier one failed.
	list, err := b.api.Containers(ctx, label)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: list leftover containers: %w", b.f.name, err))
	}
	for _, c := range list {
		// Two backends of one run share the run label; each sweeps its own.
		if c.Labels[labelBackend] != string(b.f.name) {
			continue
		}
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		ids = append(ids, name)
		if err := b.api.ContainerRemove(ctx, c.ID); err != nil && !IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	nets, err := b.api.Networks(ctx, label)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: list leftover networks: %w", b.f.name, err))
	}
	for _, n := range nets {
		if n.Labels[labelBackend] != string(b.f.name) {
			continue
		}
		ids = append(ids, "network "+n.Name)
		if err := b.api.NetworkRemove(ctx, n.ID); err != nil && !IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	// The run's own agent image goes with its end; that is no leak.
	if err := b.removeImage(ctx); err != nil {
		errs = append(errs, err)
	}
	return ids, errors.Join(errs...)
}

// labelBackend names the backend that made a container or network.
const labelBackend = "org.isobench.backend"

func (b *Backend) labels() map[string]string {
	return map[string]string{labelRun: b.env.RunID, labelBackend: string(b.f.name)}
}

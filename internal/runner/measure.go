package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/loadgen"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/netpeer"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/suite"
	"github.com/isobench/isobench/internal/workload"
)

// measure takes one sample: launch, run the workload (if any), tear down.
// interrupted is true when ctx was cancelled during the sample, which then
// measured nothing and must not be recorded.
func measure(ctx context.Context, b backend.Backend, w suite.Workload, spec backend.Spec, timeout time.Duration, launch launchFunc) (s result.Sample, interrupted bool) {
	info := b.Info()
	s = result.Sample{Backend: info.Name, Accel: info.Accel, Workload: string(w.Name), Start: time.Now()}
	sctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("sample timeout %s exceeded", timeout))
	defer cancel()
	if launch == nil {
		launch = b.Launch
	}
	sb, err := launch(sctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return s, true
		}
		s.Error = "launch: " + err.Error()
		return s, false
	}
	var runErr error
	if w.Request != nil {
		req := *w.Request
		stop := func() {}
		if w.Network {
			stop, runErr = startPeer(sb, &req, w.LoadGen)
		}
		if runErr == nil {
			start := time.Now()
			res, err := sb.Run(sctx, req)
			if err != nil {
				runErr = fmt.Errorf("%s: %w", w.Name, err)
			} else {
				if w.Restore {
					s.Metrics = append(s.Metrics, metric.Value{Name: metric.RestoreFirstRun, Unit: metric.Seconds, Value: time.Since(start).Seconds()})
				}
				s.Metrics = append(s.Metrics, res.Metrics...)
				s.Skipped = res.Skipped
			}
		}
		stop()
	}
	// Teardown is part of the sample, so it runs even after a timeout or an
	// interrupt, with its own deadline inside Close.
	closeErr := sb.Close(context.WithoutCancel(ctx))
	if ctx.Err() != nil {
		return s, true
	}
	if err := errors.Join(runErr, closeErr); err != nil {
		s.Error = err.Error()
	}
	tl := sb.Timeline()
	s.Metrics = append(timelineMetrics(tl, info.Kind), s.Metrics...)
	s.Agent = tl.Ready()
	return s, false
}

// launchFunc starts a sandbox: Backend.Launch, or Snapshot.Restore.
type launchFunc func(ctx context.Context, spec backend.Spec) (backend.Sandbox, error)

// startPeer runs the native side of the network workload on the host end
// of the sandbox's link and tells the agent where it is, or why there is
// no link. The returned stop is always safe to call.
func startPeer(sb backend.Sandbox, req *agent.Request, generators bool) (func(), error) {
	req.Params = maps.Clone(req.Params)
	linker, ok := sb.(backend.HostLinker)
	if !ok {
		req.Params[workload.NoPeerParam] = "this backend gives the sandbox no link to the host"
		return func() {}, nil
	}
	addr, reason := linker.HostAddr()
	if addr == "" {
		req.Params[workload.NoPeerParam] = reason
		return func() {}, nil
	}
	if generators {
		lg, err := loadgen.Serve(addr)
		if err != nil {
			return func() {}, fmt.Errorf("native load generators: %w", err)
		}
		req.Params[workload.PeerParam], req.Params[workload.PeerTokenParam] = lg.Addr(), lg.Token()
		return func() { _ = lg.Close() }, nil
	}
	srv, err := netpeer.Serve(addr)
	if err != nil {
		return func() {}, fmt.Errorf("native network peer: %w", err)
	}
	req.Params[workload.PeerParam] = srv.Addr()
	return func() { _ = srv.Close() }, nil
}

// timelineMetrics turns a timeline into cold-start metrics (seconds).
func timelineMetrics(tl *backend.Timeline, kind backend.Kind) []metric.Value {
	sec := func(n metric.Name, d time.Duration) metric.Value {
		return metric.Value{Name: n, Unit: metric.Seconds, Value: d.Seconds()}
	}
	var out []metric.Value
	if d, ok := tl.Since(backend.PhaseReady); ok {
		out = append(out, sec(metric.ColdStart, d))
	}
	if d, ok := tl.Since(backend.PhaseDelete); ok {
		out = append(out, sec(metric.LaunchToTeardown, d))
	}
	for _, p := range tl.Phases() {
		out = append(out, sec(metric.Phase(string(p.Phase)), p.Duration))
	}
	if r := tl.Ready(); r != nil {
		out = append(out, sec(metric.AgentStartToReady, time.Duration(r.StartToReadyNano)))
		if r.BootToStartNano > 0 {
			out = append(out, sec(metric.GuestKernelBoot, time.Duration(r.BootToStartNano)))
		}
		// Only sandboxes on the host kernel share the host's clock.
		if kind == backend.KindProcess || kind == backend.KindContainer || kind == backend.KindGVisor {
			out = append(out, sec(metric.LaunchToAgentMain, time.Unix(0, r.StartUnixNano).Sub(tl.Launch())))
		}
	}
	return out
}

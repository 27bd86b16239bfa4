package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostmem"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
	"github.com/isobench/isobench/internal/suite"
)

// maxEmulatedConcurrency caps scale levels for emulated (TCG) guests: N
// emulators booting on a few host CPUs measure CPU contention of the
// emulator, not how launching scales, and take minutes.
const maxEmulatedConcurrency = 4

// scaleSkip says why backend info cannot take a scale sample of n, or "".
func scaleSkip(info backend.Info, n int, limits backend.Limits) string {
	vm := info.Kind == backend.KindVM || info.Kind == backend.KindMicroVM
	if vm && info.Accel == backend.AccelTCG && n > maxEmulatedConcurrency {
		return fmt.Sprintf("emulated (TCG) guests: %d concurrent boots would measure the emulator's CPU contention on this host, not launch scalability; levels above %d are not run under TCG", n, maxEmulatedConcurrency)
	}
	if vm {
		// Guest RAM is the VM's to touch: do not push the host into swap.
		if avail, err := hostmem.MemAvailable(); err == nil && int64(n)*limits.MemoryBytes > avail*3/4 {
			return fmt.Sprintf("%d VMs × %d MiB of guest RAM exceed three quarters of the host's available memory (%d MiB)", n, limits.MemoryBytes>>20, avail>>20)
		}
	}
	return ""
}

// measureScale launches w.Concurrency sandboxes at once, waits for every
// one, measures their memory while all are idle, and tears them all down.
// Instances that fail to launch are recorded with their error and the
// sample still counts; it fails when none became ready or a teardown
// failed. Memory that cannot be read is n/a with the reason.
func measureScale(ctx context.Context, b backend.Backend, w suite.Workload, idPrefix string, limits backend.Limits, timeout time.Duration) (result.Sample, bool) {
	info := b.Info()
	n := w.Concurrency
	if why := scaleSkip(info, n, limits); why != "" {
		return skippedSample(b, w, why), false
	}
	s := result.Sample{Backend: info.Name, Accel: info.Accel, Workload: string(w.Name), Start: time.Now()}
	sctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("sample timeout %s exceeded", timeout))
	defer cancel()
	memBefore, _ := hostmem.MemAvailable()
	watch := watchHarness()
	sbs, errs := launchMany(sctx, b, idPrefix, 0, n, limits)
	harnessCPU, harnessRSS := watch.stop()

	var live []backend.Sandbox
	var cold []float64
	var lastReady time.Time // of the ready ones: failures may run to the timeout
	for k, sb := range sbs {
		inst := result.Instance{}
		if errs[k] != nil {
			inst.Error = errs[k].Error()
		} else {
			live = append(live, sb)
			d, _ := sb.Timeline().Since(backend.PhaseReady)
			inst.ColdStart = d.Seconds()
			cold = append(cold, inst.ColdStart)
			if at := sb.Timeline().Launch().Add(d); at.After(lastReady) {
				lastReady = at
			}
		}
		s.Instances = append(s.Instances, inst)
	}
	allReady := lastReady.Sub(s.Start)
	mem := measureIdle(context.WithoutCancel(ctx), info, live, limits)
	memAfter, _ := hostmem.MemAvailable()
	closeErr := closeAll(ctx, live)
	if ctx.Err() != nil {
		return s, true
	}
	if len(live) == 0 {
		s.Error = fmt.Sprintf("none of %d sandboxes became ready; first error: %s", n, s.Instances[0].Error)
		return s, false
	}
	if closeErr != nil {
		s.Error = "teardown: " + closeErr.Error()
	}
	per := func(total int64) float64 { return float64(total) / float64(len(live)) }
	add := func(name metric.Name, unit metric.Unit, v float64) {
		s.Metrics = append(s.Metrics, metric.Value{Name: name, Unit: unit, Value: v})
	}
	add(metric.ScaleInstanceP50, metric.Seconds, stats.Quantile(cold, 0.50))
	add(metric.ScaleInstanceP95, metric.Seconds, stats.Quantile(cold, 0.95))
	add(metric.ScaleInstanceP99, metric.Seconds, stats.Quantile(cold, 0.99))
	add(metric.ScaleAllReady, metric.Seconds, allReady.Seconds())
	add(metric.ScaleLaunchRate, metric.OpsPerSec, float64(len(live))/allReady.Seconds())
	add(metric.ScaleFailed, metric.Count, float64(n-len(live)))
	if mem.err != nil {
		s.Skipped = map[metric.Name]string{metric.ScalePSSPerInstance: "cannot read the sandboxes' memory: " + mem.err.Error()}
	} else {
		add(metric.ScalePSSPerInstance, metric.Bytes, per(mem.pss))
		if mem.guestRAM > 0 {
			add(metric.ScaleVMMOverhead, metric.Bytes, per(mem.pss-mem.guestRAM))
		}
	}
	add(metric.ScaleMemAvailPerInst, metric.Bytes, per(memBefore-memAfter))
	add(metric.ScaleHarnessCPU, metric.Dimensionless, harnessCPU)
	add(metric.ScaleHarnessRSS, metric.Bytes, float64(harnessRSS))
	return s, false
}

// launchMany launches sandboxes idPrefix-first … idPrefix-(first+n-1), all
// at once. The numbers have a fixed width so that no id is a prefix of
// another: runsc accepts any unique prefix of an id, and "-1" would then be
// ambiguous with "-11".
func launchMany(ctx context.Context, b backend.Backend, idPrefix string, first, n int, limits backend.Limits) ([]backend.Sandbox, []error) {
	sbs := make([]backend.Sandbox, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			sbs[k], errs[k] = b.Launch(ctx, backend.Spec{ID: fmt.Sprintf("%s-%04d", idPrefix, first+k), Limits: limits})
		})
	}
	wg.Wait()
	return sbs, errs
}

// maxParallelTeardown bounds how many sandboxes are torn down at once: a
// density run may end with thousands, whose teardowns at once would time
// out against each other.
const maxParallelTeardown = 32

// closeAll tears sandboxes down, up to maxParallelTeardown at once, each
// with its own bounded teardown; it returns every error.
func closeAll(ctx context.Context, sbs []backend.Sandbox) error {
	errs := make([]error, len(sbs))
	slots := make(chan struct{}, maxParallelTeardown)
	var wg sync.WaitGroup
	for k, sb := range sbs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[k] = sb.Close(context.WithoutCancel(ctx))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// idleMemory is what idle sandboxes hold: the summed PSS of their host
// processes and, for VMs, the part of it that is guest RAM.
type idleMemory struct {
	pss, guestRAM int64
	err           error
}

func measureIdle(ctx context.Context, info backend.Info, sbs []backend.Sandbox, limits backend.Limits) idleMemory {
	var m idleMemory
	vm := info.Kind == backend.KindVM || info.Kind == backend.KindMicroVM
	var pids []int
	for _, sb := range sbs {
		st, err := sb.Stats(ctx)
		if err != nil {
			m.err = errors.Join(m.err, err)
			continue
		}
		pids = append(pids, st.HostPIDs...)
		if vm {
			for _, pid := range st.HostPIDs {
				// Guest RAM is one mapping the size of the machine's memory.
				if g, err := hostmem.LargeMappingsPSS(pid, limits.MemoryBytes/2); err == nil {
					m.guestRAM += g
				}
			}
		}
	}
	pss, err := hostmem.SumPSS(pids)
	m.pss = pss
	m.err = errors.Join(m.err, err)
	return m
}

// harnessWatch measures isobench's own CPU time and peak RSS while it
// launches: the harness must not be what limits the launch rate.
type harnessWatch struct {
	start   time.Time
	cpu0    time.Duration
	done    chan struct{}
	stopped chan struct{}
	peak    int64
}

func watchHarness() *harnessWatch {
	h := &harnessWatch{start: time.Now(), cpu0: selfCPU(), done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(h.stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := hostmem.RSS(os.Getpid()); err == nil && rss > h.peak {
				h.peak = rss
			}
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// stop returns the CPU isobench used, in cores (CPU time / wall time),
// and its peak RSS.
func (h *harnessWatch) stop() (float64, int64) {
	close(h.done)
	<-h.stopped
	wall := time.Since(h.start)
	return (selfCPU() - h.cpu0).Seconds() / wall.Seconds(), h.peak
}

// selfCPU is this process's user and system time so far (every thread;
// runtime CLIs it ran are children, not counted).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostmem"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
	"github.com/isobench/isobench/internal/suite"
)

// densityPlan bounds one density sample.
type densityPlan struct {
	batch, max int
	budget     int64 // bytes of MemAvailable the sandboxes may take; 0: half of it at start
	timeout    time.Duration
	// memAvailable reads the host's available memory (tests replace it).
	memAvailable func() (int64, error)
}

// measureDensity keeps launching idle sandboxes, batch by batch, until the
// next batch would pass the memory budget, the count limit is reached, or a
// launch fails; after each batch it records how many run, the memory they
// take and the batch's launch times. Then it tears every one down.
func measureDensity(ctx context.Context, b backend.Backend, w suite.Workload, idPrefix string, limits backend.Limits, p densityPlan) (s result.Sample, interrupted bool) {
	info := b.Info()
	s = result.Sample{Backend: info.Name, Accel: info.Accel, Workload: string(w.Name), Start: time.Now()}
	if p.memAvailable == nil {
		p.memAvailable = hostmem.MemAvailable
	}
	memStart, err := p.memAvailable()
	if err != nil {
		s.Error = "density: " + err.Error()
		return s, false
	}
	budget := p.budget
	if budget == 0 {
		budget = memStart / 2
	}
	var live []backend.Sandbox
	defer func() {
		if err := closeAll(ctx, live); err != nil && ctx.Err() == nil {
			s.Error = joinMsg(s.Error, "teardown: "+err.Error())
		}
	}()
	var point result.DensityPoint
	for {
		k := min(p.batch, p.max-len(live))
		if k == 0 {
			s.Stop = fmt.Sprintf("count limit of %d sandboxes reached (--density-max)", p.max)
			break
		}
		if n := len(live); n > 0 {
			// Stop before the budget, not after: the next batch is expected
			// to cost what the sandboxes so far cost on average. Memory used
			// is the larger of the MemAvailable drop (which other processes
			// move too) and the sandboxes' summed PSS.
			used := max(point.MemUsed, point.PSS)
			if next := used + int64(k)*used/int64(n); next > budget {
				s.Stop = fmt.Sprintf("memory budget of %d MiB reached: %d sandboxes use %d MiB, the next batch of %d would bring it to about %d MiB (--memory-budget)", budget>>20, n, used>>20, k, next>>20)
				break
			}
		}
		bctx, cancel := context.WithTimeoutCause(ctx, p.timeout, fmt.Errorf("batch launch timeout %s exceeded", p.timeout))
		sbs, errs := launchMany(bctx, b, idPrefix, len(live), k, limits)
		cancel()
		if ctx.Err() != nil {
			for i, sb := range sbs {
				if errs[i] == nil {
					live = append(live, sb)
				}
			}
			return s, true
		}
		var cold []float64
		var failure error
		failed := 0
		for i, sb := range sbs {
			if errs[i] != nil {
				failed++
				failure = errs[i]
				continue
			}
			live = append(live, sb)
			d, _ := sb.Timeline().Since(backend.PhaseReady)
			cold = append(cold, d.Seconds())
		}
		mem := measureIdle(context.WithoutCancel(ctx), info, live, limits)
		if mem.err != nil {
			s.Error = joinMsg(s.Error, fmt.Sprintf("memory at %d sandboxes: %v", len(live), mem.err))
		}
		avail, _ := p.memAvailable()
		point = result.DensityPoint{Instances: len(live), MemUsed: memStart - avail, PSS: mem.pss, Failed: failed}
		if len(cold) > 0 {
			point.LaunchP50, point.LaunchMax = stats.Quantile(cold, 0.5), stats.Quantile(cold, 1)
		}
		s.Curve = append(s.Curve, point)
		if failure != nil {
			s.Stop = fmt.Sprintf("launch failed at %d sandboxes: %v", len(live)+1, failure)
			break
		}
	}
	if n := len(live); n > 0 {
		add := func(name metric.Name, unit metric.Unit, v float64) {
			s.Metrics = append(s.Metrics, metric.Value{Name: name, Unit: unit, Value: v})
		}
		last := s.Curve[len(s.Curve)-1]
		add(metric.DensityInstances, metric.Count, float64(n))
		add(metric.DensityPSSPerInstance, metric.Bytes, float64(last.PSS)/float64(n))
		add(metric.DensityMemPerInstance, metric.Bytes, float64(last.MemUsed)/float64(n))
		if last.LaunchP50 > 0 {
			add(metric.DensityLastBatchLaunch, metric.Seconds, last.LaunchP50)
		}
	} else {
		s.Error = "density: no sandbox became ready: " + s.Stop
	}
	return s, false
}

// joinMsg appends b to the message a, "; "-separated.
func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

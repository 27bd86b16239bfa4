// Package compare tells whether two sets of results differ, metric by
// metric, the way benchstat does: a change counts only if a Mann–Whitney U
// test finds the two samples differ (p < alpha) and the medians differ by
// at least an effect-size threshold, so noise is not reported as change.
package compare

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/stats"
)

// Options are the significance test's settings.
type Options struct {
	Alpha     float64 // p-value below which the samples differ (default 0.05)
	Threshold float64 // smallest relative change of the median that counts (default 0.05)
}

// Defaults are the documented defaults of `isobench compare`.
var Defaults = Options{Alpha: 0.05, Threshold: 0.05}

// Verdict classifies one metric's change.
type Verdict string

const (
	Same     Verdict = "~"        // not significant, or smaller than the threshold
	Better   Verdict = "better"   // significant and past the threshold, in the good direction
	Worse    Verdict = "WORSE"    // a regression
	TooFew   Verdict = "too few"  // a side has too few samples for the test to ever reject
	Missing  Verdict = "only in " // measured on one side only (followed by the side)
	NotFound Verdict = ""
)

// Change is one (backend, workload, metric) compared.
type Change struct {
	Backend  backend.Name
	Accel    backend.Accel
	Workload string
	Metric   metric.Name
	Unit     metric.Unit
	Better   metric.Direction
	Old, New []float64
	// OldMedian and NewMedian are the samples' medians; Delta is
	// NewMedian/OldMedian - 1.
	OldMedian, NewMedian, Delta float64
	P                           float64
	Verdict                     Verdict
}

// Runs compares the measured samples of old and new (each possibly several
// runs, e.g. interleaved repetitions of an A/B check).
func Runs(old, new []*result.Run, o Options) []Change {
	a, b := collect(old), collect(new)
	keys := map[key]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]key, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.SortFunc(sorted, func(x, y key) int {
		return cmp.Or(cmp.Compare(x.workload, y.workload), cmp.Compare(x.backend, y.backend), cmp.Compare(x.accel, y.accel), cmp.Compare(x.metric, y.metric))
	})
	thr := benchmath.DefaultThresholds
	thr.CompareAlpha = o.Alpha
	var out []Change
	for _, k := range sorted {
		info, _ := metric.Describe(k.metric)
		c := Change{Backend: backend.Name(k.backend), Accel: k.accel, Workload: k.workload, Metric: k.metric, Unit: info.Unit, Better: info.Direction,
			Old: a[k].values, New: b[k].values, P: math.NaN()}
		c.OldMedian, c.NewMedian = stats.Quantile(c.Old, 0.5), stats.Quantile(c.New, 0.5)
		switch {
		case len(c.Old) == 0:
			c.Verdict = Missing + "new"
		case len(c.New) == 0:
			c.Verdict = Missing + "old"
		}
		if c.Verdict != NotFound {
			out = append(out, c)
			continue
		}
		s1, s2 := benchmath.NewSample(c.Old, &thr), benchmath.NewSample(c.New, &thr)
		cmpRes := benchmath.AssumeNothing.Compare(s1, s2)
		c.P = cmpRes.P
		if c.OldMedian != 0 {
			c.Delta = c.NewMedian/c.OldMedian - 1
		}
		c.Verdict = verdict(c, cmpRes, o)
		out = append(out, c)
	}
	return out
}

func verdict(c Change, r benchmath.Comparison, o Options) Verdict {
	// With n values a side, the U test's smallest possible p is
	// 2/C(n1+n2, n1): below alpha only from about 4+4 samples.
	if minP(len(c.Old), len(c.New)) >= o.Alpha {
		return TooFew
	}
	if r.P >= o.Alpha || math.Abs(c.Delta) < o.Threshold || c.OldMedian == 0 {
		return Same
	}
	up := c.Delta > 0
	if up == (c.Better == metric.HigherIsBetter) {
		return Better
	}
	return Worse
}

// minP is the two-sided Mann–Whitney U test's smallest p-value for samples
// of n1 and n2 distinct values: 2 / C(n1+n2, n1).
func minP(n1, n2 int) float64 {
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// Regressions are the changes that got worse, and what OLD measured that
// NEW no longer does (a backend that stopped working, samples that now
// all fail): a regression check must not pass because a figure vanished.
func Regressions(cs []Change) []Change {
	var out []Change
	for _, c := range cs {
		if c.Verdict == Worse || c.Verdict == Missing+"old" {
			out = append(out, c)
		}
	}
	return out
}

// key separates acceleration modes: an emulated (TCG) sample never pools
// with, or is compared to, a hardware-accelerated one.
type key struct {
	workload, backend string
	accel             backend.Accel
	metric            metric.Name
}

type side struct {
	values []float64
}

// collect gathers every measured value (warm-ups and failed samples
// excluded) by backend, workload and metric.
func collect(runs []*result.Run) map[key]side {
	out := map[key]side{}
	for _, r := range runs {
		for _, s := range r.Samples {
			if s.Warmup || s.Error != "" {
				continue
			}
			for _, m := range s.Metrics {
				k := key{s.Workload, string(s.Backend), s.Accel, m.Name}
				sd := out[k]
				sd.values = append(sd.values, m.Value)
				out[k] = sd
			}
		}
	}
	return out
}

// HostDifferences lists what differs between the runs' hosts (CPU, kernel,
// CPU count, runtime versions): a change between different hosts may be
// the host's.
func HostDifferences(old, new []*result.Run) []string {
	var out []string
	if len(old) == 0 || len(new) == 0 {
		return nil
	}
	a, b := old[0].Host, new[0].Host
	diff := func(what, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s: %q → %q", what, x, y))
		}
	}
	diff("CPU", a.CPUModel, b.CPUModel)
	diff("CPUs", fmt.Sprint(a.CPUs), fmt.Sprint(b.CPUs))
	diff("kernel", a.Kernel, b.Kernel)
	diff("hostname", a.Hostname, b.Hostname)
	for name, v := range a.Runtimes {
		if w, ok := b.Runtimes[name]; ok {
			diff(name+" version", v, w)
		}
	}
	slices.Sort(out)
	return out
}

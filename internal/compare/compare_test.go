package compare

import (
	"math"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

// runOf makes a run whose backend "b" has one sample per value of each
// metric (plus a warm-up and a failed sample, which must be ignored).
func runOf(values map[metric.Name][]float64) *result.Run {
	r := &result.Run{}
	n := 0
	for _, vs := range values {
		n = max(n, len(vs))
	}
	for i := range n {
		s := result.Sample{Backend: "b", Workload: "w"}
		for name, vs := range values {
			if i < len(vs) {
				s.Metrics = append(s.Metrics, metric.Value{Name: name, Value: vs[i]})
			}
		}
		r.Samples = append(r.Samples, s)
	}
	r.Samples = append(r.Samples,
		result.Sample{Backend: "b", Workload: "w", Warmup: true, Metrics: []metric.Value{{Name: metric.ColdStart, Value: 1e9}}},
		result.Sample{Backend: "b", Workload: "w", Error: "boom", Metrics: []metric.Value{{Name: metric.ColdStart, Value: 1e9}}})
	return r
}

func scaled(base []float64, f float64) []float64 {
	out := make([]float64, len(base))
	for i, v := range base {
		out[i] = v * f
	}
	return out
}

func TestVerdicts(t *testing.T) {
	base := []float64{10, 11, 12, 13, 14, 15, 16, 17}
	noisy := []float64{10.2, 10.9, 12.1, 12.9, 14.2, 14.8, 16.1, 16.9}
	tests := []struct {
		name     string
		metric   metric.Name
		old, new []float64
		want     Verdict
	}{
		{"cold start 30% slower", metric.ColdStart, base, scaled(base, 1.3), Worse},
		{"cold start 30% faster", metric.ColdStart, base, scaled(base, 0.7), Better},
		{"throughput 30% higher", metric.CPUEventsPerSec, base, scaled(base, 1.3), Better},
		{"throughput 30% lower", metric.CPUEventsPerSec, base, scaled(base, 0.7), Worse},
		{"noise", metric.ColdStart, base, noisy, Same},
		// Shifted by a constant 3%: the test sees it, the threshold does not.
		{"significant but below the threshold", metric.ColdStart, base, scaled(base, 1.03), Same},
		{"three samples a side", metric.ColdStart, base[:3], scaled(base[:3], 2), TooFew},
		{"only old", metric.ColdStart, base, nil, Missing + "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := runOf(map[metric.Name][]float64{tc.metric: tc.old})
			newRun := runOf(map[metric.Name][]float64{tc.metric: tc.new})
			if tc.new == nil {
				newRun = &result.Run{}
			}
			cs := Runs([]*result.Run{old}, []*result.Run{newRun}, Defaults)
			if len(cs) != 1 {
				t.Fatalf("%d changes, want 1: %+v", len(cs), cs)
			}
			if cs[0].Verdict != tc.want {
				t.Errorf("verdict %q (p=%.4f, delta %+.3f), want %q", cs[0].Verdict, cs[0].P, cs[0].Delta, tc.want)
			}
			if len(cs[0].Old) != len(tc.old) {
				t.Errorf("%d old values, want %d (warm-ups and failures excluded)", len(cs[0].Old), len(tc.old))
			}
		})
	}
}

// Several runs per side are pooled, as an interleaved A/B check produces.
func TestPoolsRunsPerSide(t *testing.T) {
	a1 := runOf(map[metric.Name][]float64{metric.ColdStart: {10, 11, 12, 13}})
	a2 := runOf(map[metric.Name][]float64{metric.ColdStart: {14, 15, 16, 17}})
	b1 := runOf(map[metric.Name][]float64{metric.ColdStart: {20, 22, 24, 26}})
	b2 := runOf(map[metric.Name][]float64{metric.ColdStart: {28, 30, 32, 34}})
	cs := Runs([]*result.Run{a1, a2}, []*result.Run{b1, b2}, Defaults)
	if len(cs) != 1 || len(cs[0].Old) != 8 || len(cs[0].New) != 8 || cs[0].Verdict != Worse {
		t.Fatalf("pooled comparison %+v", cs)
	}
	if len(Regressions(cs)) != 1 {
		t.Errorf("Regressions = %v", Regressions(cs))
	}
	// A figure that NEW no longer has is a regression too.
	gone := Runs([]*result.Run{a1}, []*result.Run{{}}, Defaults)
	if len(Regressions(gone)) != 1 {
		t.Errorf("a metric missing from NEW: Regressions = %v", Regressions(gone))
	}
	var out strings.Builder
	if err := WriteText(&out, cs, []string{`kernel: "a" → "b"`}, Defaults); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WORSE", "+100.0%", "8+8", `the hosts differ: kernel`, "0 better, 1 worse"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMinP(t *testing.T) {
	// 2/C(8,4) = 2/70 and 2/C(6,3) = 2/20.
	for _, tc := range []struct {
		n1, n2 int
		want   float64
	}{{4, 4, 2.0 / 70}, {3, 3, 0.1}, {1, 1, 1}} {
		if got := minP(tc.n1, tc.n2); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("minP(%d,%d) = %g, want %g", tc.n1, tc.n2, got, tc.want)
		}
	}
}

package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/suite"
)

// linklessBackend cannot give its sandboxes a network link; it fails the
// test if asked to launch one anyway.
type linklessBackend struct{ t *testing.T }

func (b linklessBackend) Name() backend.Name { return "linkless" }

func (b linklessBackend) Info() backend.Info {
	return backend.Info{Name: "linkless", Kind: backend.KindMicroVM,
		Unsupported: map[backend.Feature]string{backend.FeatureNetwork: "no network device; pass --kernel"}}
}

func (b linklessBackend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	b.t.Errorf("Launch(%+v) of a backend that declared the feature unsupported", spec)
	return nil, errors.New("unsupported")
}

// A workload needing what a backend declares unsupported is recorded as
// n/a with the backend's reason, without launching, and is not a failure.
func TestUnsupportedFeatureIsNotAFailure(t *testing.T) {
	s := suite.Defaults()
	s.Workloads, s.Reps, s.Warmup = []string{"network"}, 2, 1
	run := &result.Run{ID: "t1"}
	out := filepath.Join(t.TempDir(), ResultsFile)
	err := measureAll(t.Context(), run, []backend.Backend{linklessBackend{t}}, out, s, t.TempDir(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("measureAll: %v", err)
	}
	if len(run.Samples) != 3 {
		t.Fatalf("%d samples, want 3 (1 warm-up + 2)", len(run.Samples))
	}
	for _, smp := range run.Samples {
		if smp.Error != "" || smp.Skipped[metric.ColdStart] != "no network device; pass --kernel" {
			t.Errorf("sample %+v: want n/a with the backend's reason, no error", smp)
		}
	}
}

// countingBackend launches trivial sandboxes, counts the live ones, and
// fails launch number failAt (1-based; 0: never).
type countingBackend struct {
	launched, live atomic.Int64
	failAt         int64
	mu             sync.Mutex
	ids            []string
}

func (b *countingBackend) Name() backend.Name { return "counting" }
func (b *countingBackend) Info() backend.Info {
	return backend.Info{Name: "counting", Kind: backend.KindContainer, Accel: backend.AccelNative}
}

func (b *countingBackend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	b.mu.Lock()
	b.ids = append(b.ids, spec.ID)
	b.mu.Unlock()
	if n := b.launched.Add(1); n == b.failAt {
		return nil, fmt.Errorf("launch %d: out of pids", n)
	}
	b.live.Add(1)
	tl := backend.NewTimeline()
	tl.Mark(backend.PhaseReady)
	return &countingSandbox{b: b, tl: tl}, nil
}

type countingSandbox struct {
	b  *countingBackend
	tl *backend.Timeline
}

func (s *countingSandbox) Run(context.Context, agent.Request) (*agent.Result, error) {
	return &agent.Result{}, nil
}
func (s *countingSandbox) Stats(context.Context) (backend.Stats, error) {
	return backend.Stats{HostPIDs: []int{os.Getpid()}}, nil
}
func (s *countingSandbox) Timeline() *backend.Timeline { return s.tl }
func (s *countingSandbox) Close(context.Context) error {
	s.b.live.Add(-1)
	return nil
}

// Density stops before the batch that would pass the budget, or at the
// first failure, and leaves no sandbox running either way.
func TestDensityStopsAtBudgetOrFailureAndTearsDown(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name          string
		failAt        int64
		wantInstances int
		wantStop      string
	}{
		// 10 MiB per sandbox, batches of 2, budget 35 MiB: after 2 the next
		// batch would reach 40 MiB.
		{"budget", 0, 2, "memory budget of 35 MiB reached"},
		{"failure", 2, 1, "launch failed at 2 sandboxes: launch 2: out of pids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &countingBackend{failAt: tc.failAt}
			const total = 1 << 40
			p := densityPlan{batch: 2, max: 100, budget: 35 * mib, timeout: time.Minute,
				memAvailable: func() (int64, error) { return total - b.live.Load()*10*mib, nil }}
			w, _ := suite.Defaults().Workload(string(suite.Density))
			s, interrupted := measureDensity(t.Context(), b, w, "isobench-t-0", backend.Limits{CPUs: 1, MemoryBytes: 64 * mib}, p)
			if interrupted || s.Error != "" {
				t.Fatalf("interrupted %v, error %q", interrupted, s.Error)
			}
			if n, _ := s.Value(metric.DensityInstances); int(n) != tc.wantInstances || !strings.Contains(s.Stop, tc.wantStop) {
				t.Errorf("%v instances, stop %q; want %d and %q", n, s.Stop, tc.wantInstances, tc.wantStop)
			}
			if per, _ := s.Value(metric.DensityMemPerInstance); per != 10*mib {
				t.Errorf("memory per instance %v, want 10 MiB", per)
			}
			if live := b.live.Load(); live != 0 {
				t.Errorf("%d sandboxes left running", live)
			}
		})
	}
}

// A scale sample records each instance; a failed one is an instance
// error, not a failed sample, and every ready one is torn down.
func TestScaleRecordsInstanceFailures(t *testing.T) {
	b := &countingBackend{failAt: 3}
	w, err := suite.Defaults().Workload("scale-x12")
	if err != nil {
		t.Fatal(err)
	}
	s, interrupted := measureScale(t.Context(), b, w, "isobench-t-1", backend.Limits{CPUs: 1, MemoryBytes: 64 << 20}, time.Minute)
	if interrupted || s.Error != "" {
		t.Fatalf("interrupted %v, error %q", interrupted, s.Error)
	}
	failed := 0
	for _, in := range s.Instances {
		if in.Error != "" {
			failed++
		}
	}
	if len(s.Instances) != 12 || failed != 1 {
		t.Errorf("instances %+v: want 12, one failed", s.Instances)
	}
	if v, _ := s.Value(metric.ScaleFailed); v != 1 {
		t.Errorf("scale.failed = %v, want 1", v)
	}
	if v, ok := s.Value(metric.ScalePSSPerInstance); !ok || v <= 0 {
		t.Errorf("scale.pss_per_instance = %v, %v; want the test process's PSS", v, ok)
	}
	if b.live.Load() != 0 {
		t.Errorf("%d sandboxes left running", b.live.Load())
	}
	// runsc takes any unique prefix of an id: none may prefix another.
	for _, a := range b.ids {
		for _, c := range b.ids {
			if a != c && strings.HasPrefix(c, a) {
				t.Errorf("sandbox id %q is a prefix of %q", a, c)
			}
		}
	}
}

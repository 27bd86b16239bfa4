package runner

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

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

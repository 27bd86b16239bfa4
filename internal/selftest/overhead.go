// Package selftest measures isobench itself: how much its launch adds to
// what the bare runtime CLI costs for the same container.
package selftest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/perf/benchmath"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/runner"
	"github.com/isobench/isobench/internal/stats"
)

// BareRunner is implemented by backends that can run the same sandbox
// through the bare runtime CLI, without the harness.
type BareRunner interface {
	BareRun(ctx context.Context, id string, limits backend.Limits) (time.Duration, error)
}

// Options configure Overhead.
type Options struct {
	Backend   backend.Name // default runc
	AgentPath string
	WorkRoot  string
	Reps      int
	Warmup    int
	Limits    backend.Limits
	Log       *slog.Logger
}

// Comparison is isobench against the bare CLI in one launch mode.
type Comparison struct {
	Mode         backend.LaunchMode `json:"mode"`
	BareCommand  string             `json:"bare_command"`
	Bare         stats.Summary      `json:"bare_sec"`
	Isobench     stats.Summary      `json:"isobench_launch_to_teardown_sec"`
	IsobenchCold stats.Summary      `json:"isobench_coldstart_sec"`
	Phases       []string           `json:"isobench_phases"`
	Ratio        float64            `json:"ratio"` // median isobench / median bare
	P            float64            `json:"p"`     // Mann–Whitney U
	Alpha        float64            `json:"alpha"`
}

// Report holds one comparison per launch mode.
type Report struct {
	Backend     backend.Name `json:"backend"`
	Version     string       `json:"version"`
	Comparisons []Comparison `json:"comparisons"`
}

var bareCommands = map[backend.LaunchMode]string{
	backend.LaunchOneshot: "run --bundle B ID",
	backend.LaunchPhased:  "create --bundle B ID; start ID; (wait for exit); delete ID",
}

// Overhead measures, for each launch mode, the same container alternately
// through isobench's backend (launch, ready frame, exit request, teardown)
// and through the bare CLI, interleaved so that drift hits both alike.
func Overhead(ctx context.Context, o Options) (*Report, error) {
	if o.Backend == "" {
		o.Backend = "runc"
	}
	r := &Report{Backend: o.Backend}
	for _, mode := range []backend.LaunchMode{backend.LaunchOneshot, backend.LaunchPhased} {
		c, version, err := compareMode(ctx, o, mode)
		if err != nil {
			return nil, err
		}
		r.Version = version
		r.Comparisons = append(r.Comparisons, *c)
	}
	return r, nil
}

func compareMode(ctx context.Context, o Options, mode backend.LaunchMode) (*Comparison, string, error) {
	runID := fmt.Sprintf("self%04x%s", os.Getpid()&0xffff, mode[:1])
	work := filepath.Join(o.WorkRoot, runID)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, "", err
	}
	defer os.Remove(o.WorkRoot)
	defer func() { _ = runner.RemoveWorkDir(work) }()
	env := backend.Env{AgentPath: o.AgentPath, WorkDir: work, RunID: runID, ProbeTimeout: 20 * time.Second, LaunchMode: mode, Log: o.Log}
	dets, err := backend.Detect(ctx, env, []backend.Name{o.Backend})
	if err != nil {
		return nil, "", err
	}
	if dets[0].Err != nil {
		return nil, "", fmt.Errorf("self-test needs %s: %w", o.Backend, dets[0].Err)
	}
	b := dets[0].Backend
	bare, ok := b.(BareRunner)
	if !ok || b.Info().Kind != backend.KindContainer {
		return nil, "", fmt.Errorf("self-test: %s has no bare CLI run to compare with (use runc or crun)", o.Backend)
	}
	defer func() {
		if sw, ok := b.(backend.Sweeper); ok {
			_, _ = sw.Sweep(context.WithoutCancel(ctx))
		}
	}()
	var harness, cold, direct []float64
	var phases []string
	for i := range o.Warmup + o.Reps {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		for _, viaHarness := range []bool{i%2 == 0, i%2 == 1} {
			id := fmt.Sprintf("%s%s-%d-%v", backend.IDPrefix, runID, i, viaHarness)
			if viaHarness {
				total, c, ph, err := launchOnce(ctx, b, backend.Spec{ID: id, Limits: o.Limits})
				if err != nil {
					return nil, "", err
				}
				if i >= o.Warmup {
					harness, cold, phases = append(harness, total.Seconds()), append(cold, c.Seconds()), ph
				}
				continue
			}
			d, err := bare.BareRun(ctx, id, o.Limits)
			if err != nil {
				return nil, "", err
			}
			if i >= o.Warmup {
				direct = append(direct, d.Seconds())
			}
		}
	}
	c := &Comparison{
		Mode: mode, BareCommand: string(o.Backend) + " " + bareCommands[mode],
		Bare:         stats.Summarize(direct, stats.DefaultConfig),
		Isobench:     stats.Summarize(harness, stats.DefaultConfig),
		IsobenchCold: stats.Summarize(cold, stats.DefaultConfig),
		Phases:       phases,
	}
	c.Ratio = c.Isobench.Median / c.Bare.Median
	cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(harness, &benchmath.DefaultThresholds),
		benchmath.NewSample(direct, &benchmath.DefaultThresholds))
	c.P, c.Alpha = cmp.P, cmp.Alpha
	return c, b.Info().Version, nil
}

func launchOnce(ctx context.Context, b backend.Backend, spec backend.Spec) (total, cold time.Duration, phases []string, err error) {
	sb, err := b.Launch(ctx, spec)
	if err != nil {
		return 0, 0, nil, err
	}
	if err := sb.Close(ctx); err != nil {
		return 0, 0, nil, err
	}
	tl := sb.Timeline()
	total, ok1 := tl.Since(backend.PhaseDelete)
	cold, ok2 := tl.Since(backend.PhaseReady)
	if !ok1 || !ok2 {
		return 0, 0, nil, errors.New("self-test: timeline incomplete")
	}
	for _, p := range tl.Phases() {
		phases = append(phases, string(p.Phase))
	}
	return total, cold, phases, nil
}

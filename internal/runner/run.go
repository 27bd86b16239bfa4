package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/scenario/grader"
	"github.com/isobench/isobench/internal/suite"
)

var (
	// ErrNoBackend: none of the requested backends can run on this host.
	ErrNoBackend = errors.New("no usable backend")
	// ErrInterrupted: the run was stopped by a signal; it cleaned up and
	// kept the samples it had.
	ErrInterrupted = errors.New("interrupted")
)

// ResultsFile is the name of the results document in the output directory.
const ResultsFile = "results.json"

// Options configure RunSuite.
type Options struct {
	Suite        suite.Suite
	OutDir       string
	AgentPath    string
	WorkRoot     string // parent of the run's private work dir (tmpfs is best)
	ScratchRoot  string // parent of the run's scratch volumes: must be on disk
	KernelPath   string // guest kernel for VM backends ("" = fetched)
	Accel        backend.AccelChoice
	ProbeTimeout time.Duration
	// GuestImage is the built image the tool workloads run on (zero: none).
	GuestImage image.Image
	Command    []string
	Build      result.Build
	Progress   Progress
	Log        *slog.Logger
}

// Progress receives events for display; it must not block for long.
type Progress interface {
	Plan(runID string, backends []result.BackendRecord, total int)
	Step(s result.Sample)
	Finish()
}

// PrepareOutDir creates dir and checks that results can be written there
// without overwriting an earlier run.
func PrepareOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("out: cannot create %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ResultsFile)); err == nil {
		return fmt.Errorf("out: %s already holds %s; choose a new directory (results are never overwritten)", dir, ResultsFile)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("out: %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// RunSuite detects backends, measures every planned cell, saves each sample
// as it is taken, and removes everything it created. The returned run is
// what was saved, also on error.
func RunSuite(ctx context.Context, o Options) (*result.Run, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	runID, err := newRunID()
	if err != nil {
		return nil, err
	}
	workDir := filepath.Join(o.WorkRoot, runID)
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	s := o.Suite
	run := &result.Run{
		Schema: result.SchemaVersion, ID: runID, Isobench: o.Build, Command: o.Command,
		Config: result.Config{
			Backends: s.Backends, Workloads: s.Workloads, Reps: s.Reps, Warmup: s.Warmup, Quick: s.Quick,
			Limits: s.Limits, TimeoutSec: s.Timeout.Seconds(), Interleaved: true, LaunchMode: string(s.LaunchMode), Accel: string(o.Accel),
		},
		Host: hostinfo.Collect(), StartedAt: time.Now().UTC(), Status: result.StatusRunning,
	}
	for _, n := range s.Workloads {
		if w, err := s.Workload(n); err == nil && w.Concurrency > 0 {
			run.Config.Concurrency = append(run.Config.Concurrency, w.Concurrency)
		} else if err == nil && w.Density {
			run.Config.DensityBatch, run.Config.DensityMax, run.Config.MemoryBudget = s.DensityBatch, s.DensityMax, s.MemoryBudget
		} else if err == nil && w.Grader {
			g := GraderBench(s)
			run.Config.Grader = &result.GraderConfig{Submissions: g.Submissions, Rate: g.Rate, Workers: g.Workers, Mode: string(g.Mode), Jobs: g.Jobs,
				TimeLimitSec: g.Limits.Timeout.Seconds(), OutputLimit: g.Limits.OutputLimit, Pids: g.Limits.Sandbox.Pids, DB: "sqlite (on the scratch directory)"}
		}
	}
	out := filepath.Join(o.OutDir, ResultsFile)
	scratchDir := filepath.Join(o.ScratchRoot, runID)
	run.Config.ScratchDir, run.Config.ScratchFS = scratchDir, fsType(o.ScratchRoot)
	env := backend.Env{AgentPath: o.AgentPath, WorkDir: workDir, RunID: runID, ProbeTimeout: o.ProbeTimeout, LaunchMode: s.LaunchMode, KernelPath: o.KernelPath, Accel: o.Accel, Log: log,
		Rootfs: o.GuestImage.Rootfs()}
	if o.GuestImage.Dir != "" {
		gi := o.GuestImage
		run.Config.GuestImage = &result.GuestImage{Preset: gi.Recipe.Preset, Digest: gi.Digest, Release: gi.Recipe.Release, Mirror: gi.Mirror,
			Builder: gi.Builder, Built: gi.Built, SizeBytes: gi.SizeBytes, Packages: gi.Packages}
	}
	if run.Config.Grader != nil {
		// Grader jobs need a shell in their sandboxes; every sandbox of
		// the run gets the same tree, so the numbers stay comparable.
		env.Image = filepath.Join(workDir, "image")
		if err := grader.PrepareImage(env.Image); err != nil {
			_ = RemoveWorkDir(workDir)
			return nil, err
		}
		run.Config.Image = "busybox (static) as /bin/sh for the grader's jobs"
	}

	var names []backend.Name
	for _, n := range s.Backends {
		names = append(names, backend.Name(n))
	}
	dets, detErr := backend.Detect(ctx, env, names)
	var usable []backend.Backend
	run.Host.Runtimes = map[string]string{}
	for _, d := range dets {
		rec := result.BackendRecord{Info: backend.Info{Name: d.Name, Kind: d.Kind}, Available: d.Available()}
		if d.Available() {
			rec.Info = d.Backend.Info()
			usable = append(usable, d.Backend)
			run.Host.Runtimes[string(d.Name)] = rec.Version
		} else {
			rec.Reason, rec.Fix = backend.Explain(d.Err)
			if !errors.Is(d.Err, backend.ErrUnavailable) && ctx.Err() == nil {
				// Not a host limitation: a bug or a broken environment.
				detErr = errors.Join(detErr, fmt.Errorf("%s: %w", d.Name, d.Err))
			}
		}
		run.Backends = append(run.Backends, rec)
	}

	runErr := func() error {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		if detErr != nil {
			return detErr
		}
		if len(s.Backends) > 0 {
			var missing []string
			for _, r := range run.Backends {
				if !r.Available {
					missing = append(missing, fmt.Sprintf("%s: %s (fix: %s)", r.Name, r.Reason, r.Fix))
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%w: requested backend unavailable: %s", ErrNoBackend, strings.Join(missing, "; "))
			}
		}
		if len(usable) == 0 {
			return fmt.Errorf("%w: see `isobench backends` for reasons and fixes", ErrNoBackend)
		}
		// results.json first appears with the first sample.
		return measureAll(ctx, run, usable, out, s, scratchDir, o.Progress, log)
	}()

	// Cleanup, whatever happened above.
	leaks, warnings := Cleanup(ctx, usable, runID, workDir, scratchDir)
	run.Warnings = append(run.Warnings, warnings...)
	_ = os.Remove(o.WorkRoot) // only if empty: other runs may share them
	_ = os.Remove(o.ScratchRoot)
	for _, l := range leaks {
		run.Warnings = append(run.Warnings, "leak: "+l)
	}
	if len(leaks) > 0 {
		runErr = errors.Join(runErr, fmt.Errorf("run left %d resources behind: %s", len(leaks), strings.Join(leaks, "; ")))
	}

	finished := time.Now().UTC()
	run.FinishedAt = &finished
	switch {
	case errors.Is(runErr, ErrInterrupted):
		run.Status = result.StatusInterrupted
	case runErr != nil:
		run.Status = result.StatusFailed
	default:
		run.Status = result.StatusComplete
	}
	if len(run.Samples) > 0 {
		if err := result.Save(out, run); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return run, runErr
}

func measureAll(ctx context.Context, run *result.Run, usable []backend.Backend, out string, s suite.Suite, scratchDir string, progress Progress, log *slog.Logger) error {
	byName := map[backend.Name]backend.Backend{}
	var names []backend.Name
	for _, b := range usable {
		byName[b.Name()] = b
		names = append(names, b.Name())
	}
	var wnames []suite.WorkloadName
	workloads := map[suite.WorkloadName]suite.Workload{}
	for _, n := range s.Workloads {
		w, err := s.Workload(n)
		if err != nil {
			return err
		}
		wnames = append(wnames, w.Name)
		workloads[w.Name] = w
	}
	// One density curve per backend: it is long and stateful. A grader
	// load test warms itself up (its first jobs), so it has no warm-ups.
	cells := slices.DeleteFunc(Plan(names, wnames, s.Reps, s.Warmup), func(c Cell) bool {
		w := workloads[c.Workload]
		return w.Density && (c.Warmup || c.Rep > 0) || w.Grader && c.Warmup
	})
	if progress != nil {
		progress.Plan(run.ID, run.Backends, len(cells))
		defer progress.Finish()
	}
	snaps := newSnapshots(run.ID, s, log)
	defer func() {
		if err := snaps.removeAll(); err != nil {
			run.Warnings = append(run.Warnings, err.Error())
		}
	}()
	failed, measured := 0, 0
	for i, c := range cells {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		w := workloads[c.Workload]
		if !c.Warmup {
			measured++
		}
		spec := backend.Spec{ID: fmt.Sprintf("%s%s-%d", backend.IDPrefix, run.ID, i), Limits: s.Limits, Network: w.Network, WritableRoot: w.WritableRoot, Tools: w.Tools}
		timeout := max(s.Timeout, w.Timeout)
		if w.Scratch {
			spec.Scratch = filepath.Join(scratchDir, spec.ID)
			if err := os.MkdirAll(spec.Scratch, 0o755); err != nil {
				return fmt.Errorf("scratch volume: %w", err)
			}
		}
		b := byName[c.Backend]
		var sample result.Sample
		interrupted := false
		switch why := b.Info().Missing(spec); {
		case why != "":
			sample = skippedSample(b, w, why)
		case w.Concurrency > 0:
			sample, interrupted = measureScale(ctx, b, w, spec.ID, s.Limits, s.Timeout)
		case w.Grader:
			if err := os.MkdirAll(scratchDir, 0o755); err != nil {
				return fmt.Errorf("grader database directory: %w", err)
			}
			sample, interrupted = measureGrader(ctx, b, w, spec.ID, s, scratchDir, log)
		case w.Density:
			sample, interrupted = measureDensity(ctx, b, w, spec.ID, s.Limits,
				densityPlan{batch: s.DensityBatch, max: s.DensityMax, budget: s.MemoryBudget, timeout: s.Timeout})
		case w.Restore:
			launch, skip, err := snaps.launcher(ctx, b)
			switch {
			case ctx.Err() != nil:
				interrupted = true
			case skip != "":
				sample = skippedSample(b, w, skip)
			case err != nil:
				info := b.Info()
				sample = result.Sample{Backend: info.Name, Accel: info.Accel, Workload: string(w.Name), Start: time.Now(), Error: err.Error()}
			default:
				sample, interrupted = measure(ctx, b, w, spec, timeout, launch)
			}
		default:
			sample, interrupted = measure(ctx, b, w, spec, timeout, nil)
		}
		if spec.Scratch != "" {
			if err := os.RemoveAll(spec.Scratch); err != nil {
				sample.Error = strings.TrimPrefix(sample.Error+"; ", "; ") + "remove scratch volume: " + err.Error()
			}
		}
		if interrupted {
			return ErrInterrupted
		}
		sample.Seq, sample.Rep, sample.Warmup = i, c.Rep, c.Warmup
		if sample.Error != "" {
			log.Warn("sample failed", "backend", c.Backend, "workload", c.Workload, "rep", c.Rep, "error", sample.Error)
			if !c.Warmup {
				failed++
			}
		}
		run.Samples = append(run.Samples, sample)
		if err := result.Save(out, run); err != nil {
			return err
		}
		if progress != nil {
			progress.Step(sample)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d measured samples failed (errors are in %s)", failed, measured, out)
	}
	return nil
}

// newRunID needs uniqueness, not secrecy: math/rand avoids crypto package
// initialisation in the agent, which is this same binary.
func newRunID() (string, error) {
	return fmt.Sprintf("%08x", rand.Uint32()), nil
}

// Cleanup removes whatever the sandboxes of run runID may have left: the
// backends' own state (Sweeper), the work and scratch directories,
// cgroups, links and network namespaces. It returns what it had to remove
// beyond the directories (leaks: a bug somewhere, or a crashed run) and
// warnings about what it could not. It has its own deadline.
func Cleanup(ctx context.Context, usable []backend.Backend, runID, workDir string, dirs ...string) (leaks, warnings []string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	for _, b := range usable {
		if sw, ok := b.(backend.Sweeper); ok {
			ids, err := sw.Sweep(cctx)
			for _, id := range ids {
				leaks = append(leaks, fmt.Sprintf("%s: %s (force-deleted by the end-of-run sweep)", b.Name(), id))
			}
			if err != nil {
				warnings = append(warnings, "cleanup: "+err.Error())
			}
		}
	}
	for _, dir := range append([]string{workDir}, dirs...) {
		if err := RemoveWorkDir(dir); err != nil {
			warnings = append(warnings, "cleanup: "+err.Error())
		}
	}
	leaks = append(leaks, SweepCgroups(runID)...)
	leaks = append(leaks, sweepLinks(cctx, backend.IDPrefix+runID)...)
	leaks = append(leaks, Leaks(workDir, backend.IDPrefix+runID)...)
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err == nil {
			leaks = append(leaks, "directory "+dir)
		}
	}
	return leaks, warnings
}

// SweepCgroups removes the cgroups of run runID that runtimes failed to
// remove (last resort), with whatever still runs inside (a crashed run's
// job). They are reported: it is a bug somewhere, or a crash.
func SweepCgroups(runID string) []string {
	var out []string
	for _, c := range cgroupsWithPrefix(backend.IDPrefix + runID) {
		if os.Remove(c) == nil || backend.RemoveLeftoverCgroups(filepath.Base(c)) == nil {
			out = append(out, "cgroup "+c+" (removed by the end-of-run sweep)")
		}
	}
	return out
}

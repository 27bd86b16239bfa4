package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/history"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/progress"
	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/runner"
	"github.com/isobench/isobench/internal/suite"
)

type runOptions struct {
	suite suite.Suite
	// graderPrefix starts the grader flags' names ("grader-" on run).
	graderPrefix string
	graderOutput string
	memory       string
	memoryBudget string
	history      string
	noHistory    bool
	out          string
	scratch      string
	kernel       string
	accel        string
	probeTimeout time.Duration
	// suiteName is --suite: a named preset of workloads.
	suiteName   string
	imageCache  string
	imageMirror string
}

func newRunCommand(ctx context.Context, g *globals, h *hooks) *cobra.Command {
	o := &runOptions{suite: suite.Defaults(), graderPrefix: "grader-"}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Measure the selected workloads on the selected backends",
		Example: `  isobench run --quick
  isobench run --backends process,runc,runsc-ptrace --reps 30 --out results/today`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			if h.run != nil {
				return h.run(o)
			}
			return runRun(ctx, g, o)
		},
	}
	addRunFlags(cmd.Flags(), o, true)
	return cmd
}

// complete applies --quick and validates everything before anything runs.
func (o *runOptions) complete(cmd *cobra.Command) error {
	o.suite.Backends = splitList(o.suite.Backends)
	if o.suiteName != "" {
		if cmd.Flags().Changed("workloads") {
			return usagef("--suite and --workloads: choose one (a suite is a list of workloads)")
		}
		levels := o.suite.Concurrency
		if err := o.suite.ApplyPreset(o.suiteName); err != nil {
			return usagef("--%v", err)
		}
		if cmd.Flags().Changed("concurrency") {
			o.suite.Concurrency = levels
		}
	}
	o.suite.Workloads = suite.ExpandScale(suite.ExpandWorkloads(splitList(o.suite.Workloads)), o.suite.Concurrency)
	if o.suite.Quick {
		if !cmd.Flags().Changed("reps") {
			o.suite.Reps = suite.QuickReps
			if o.suiteName != "" {
				o.suite.Reps = suite.QuickSuiteReps
			}
		}
		if !cmd.Flags().Changed("warmup") {
			o.suite.Warmup = suite.QuickWarmup
		}
	}
	mem, err := suite.ParseBytes(o.memory)
	if err != nil {
		return usagef("--memory: %v", err)
	}
	o.suite.Limits.MemoryBytes = mem
	if o.memoryBudget != "" {
		budget, err := suite.ParseBytes(o.memoryBudget)
		if err != nil {
			return usagef("--memory-budget: %v", err)
		}
		o.suite.MemoryBudget = budget
	}
	if o.probeTimeout <= 0 {
		return usagef("--probe-timeout: %s is not positive", o.probeTimeout)
	}
	if err := validAccel(o.accel); err != nil {
		return err
	}
	if err := o.suite.Validate(); err != nil {
		return usagef("--%v", err)
	}
	if o.graderOutput != "" {
		n, err := suite.ParseBytes(o.graderOutput)
		if err != nil {
			return usagef("--%soutput-limit: %v", o.graderPrefix, err)
		}
		o.suite.Grader.OutputLimit = n
	}
	if slices.Contains(o.suite.Workloads, string(suite.Grader)) {
		if err := runner.GraderBench(o.suite).Validate(); err != nil {
			return usagef("--%s%v", o.graderPrefix, err)
		}
	}
	if !filepath.IsAbs(o.scratch) {
		abs, err := filepath.Abs(o.scratch)
		if err != nil {
			return usagef("--scratch: %v", err)
		}
		o.scratch = abs
	}
	if o.out == "" {
		o.out = defaultOutDir(time.Now())
	}
	if err := runner.PrepareOutDir(o.out); err != nil {
		return usagef("--%v", err)
	}
	return nil
}

func runRun(ctx context.Context, g *globals, o *runOptions) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	if err := agent.CheckStatic(self); err != nil {
		return err
	}
	var img image.Image
	if preset := o.suite.ImagePreset(); preset != "" {
		r, err := image.Preset(preset)
		if err != nil {
			return err
		}
		c, err := imageCache(o.imageCache)
		if err != nil {
			return err
		}
		if img, err = buildImage(ctx, g, c, r, o.imageMirror, false); err != nil {
			return fmt.Errorf("the tool workloads need guest image %s: %w", preset, err)
		}
		release, err := c.Use(img)
		if err != nil {
			return err
		}
		defer release()
	}
	run, err := runner.RunSuite(ctx, runner.Options{
		GuestImage: img,
		Suite:      o.suite, OutDir: o.out, AgentPath: self, WorkRoot: workRoot(), ScratchRoot: o.scratch, KernelPath: o.kernel, Accel: backend.AccelChoice(o.accel),
		ProbeTimeout: o.probeTimeout, Command: os.Args, Build: buildInfo(),
		Progress: progress.New(g.stderr), Log: g.logger(),
	})
	if run != nil && len(run.Samples) > 0 {
		summary, page := filepath.Join(o.out, "summary.txt"), filepath.Join(o.out, "report.html")
		werr := errors.Join(report.WriteText(g.stdout, run), report.WriteFile(summary, run, "text"), report.WriteFile(page, run, "html"))
		if werr != nil && err == nil {
			err = werr
		}
		fmt.Fprintf(g.stderr, "results: %s (summary: %s, report: %s)\n", filepath.Join(o.out, runner.ResultsFile), summary, page)
		if !o.noHistory {
			// The history is a convenience: failing to store is a warning.
			if herr := storeInHistory(o.history, run); herr != nil {
				fmt.Fprintf(g.stderr, "warning: %v\n", herr)
			}
		}
	} else {
		// Nothing measured: do not leave an empty output directory behind.
		_ = os.Remove(o.out)
	}
	return err
}

func storeInHistory(dir string, run *result.Run) error {
	if dir == "" {
		d, err := history.DefaultDir()
		if err != nil {
			return err
		}
		dir = d
	}
	s, err := history.Open(dir)
	if err != nil {
		return err
	}
	_, err = s.Add(run)
	return err
}

// addRunFlags registers the flags of a measuring run; all adds the
// workload selection and the scale, density and grader settings, which
// `grader bench` fixes or names differently.
func addRunFlags(f *pflag.FlagSet, o *runOptions, all bool) {
	d := suite.Defaults()
	f.StringSliceVar(&o.suite.Backends, "backends", nil, "backends to measure, comma-separated (default: every available one; see `isobench backends`)")
	f.IntVar(&o.suite.Reps, "reps", d.Reps, fmt.Sprintf("measured repetitions per backend and workload (--quick: %d)", suite.QuickReps))
	f.IntVar(&o.suite.Warmup, "warmup", d.Warmup, fmt.Sprintf("warm-up repetitions, not counted (--quick: %d)", suite.QuickWarmup))
	f.BoolVar(&o.suite.Quick, "quick", false, "a short run: fewer repetitions and smaller workload sizes")
	f.Float64Var(&o.suite.Limits.CPUs, "cpus", d.Limits.CPUs, "CPU limit of every sandbox (CFS quota), identical for all backends")
	f.StringVar(&o.memory, "memory", "512MiB", "memory limit of every sandbox, identical for all backends")
	f.DurationVar(&o.suite.Timeout, "timeout", d.Timeout, "limit for one sample's launch and workload; a sandbox that exceeds it is killed, then removed within its own bounded teardown time")
	f.StringVar((*string)(&o.suite.LaunchMode), "oci-mode", string(d.LaunchMode), "how OCI runtimes are driven: phased (create, start, delete timed separately, as containerd does) or oneshot (one `run` call, as from a shell)")
	f.StringVar(&o.out, "out", "", "output directory (default results/<timestamp>); must not already hold results")
	f.StringVar(&o.scratch, "scratch", "/var/tmp/isobench", "where scratch volumes for file I/O are created; must be on the disk you want to measure (not tmpfs)")
	f.StringVar(&o.kernel, "kernel", "", "guest kernel (bzImage) for VM backends; default: Debian's cloud kernel, fetched with apt-get download and cached")
	f.DurationVar(&o.probeTimeout, "probe-timeout", 10*time.Second, "bound on each backend's start probe")
	f.StringVar(&o.accel, "accel", string(backend.AccelAuto), accelHelp)
	f.StringVar(&o.history, "history", "", "history directory the run is stored in (default $XDG_DATA_HOME/isobench/history)")
	f.BoolVar(&o.noHistory, "no-history", false, "do not store the run in the history")
	if !all {
		return
	}
	f.StringSliceVar(&o.suite.Workloads, "workloads", d.Workloads, "workloads to run, comma-separated (valid: "+fmt.Sprint(suite.WorkloadNames())+")")
	f.StringVar(&o.suiteName, "suite", "", "a named suite instead of --workloads: "+suiteHelp())
	f.StringVar(&o.imageCache, "image-cache", "", "guest image cache for the tool workloads (default $XDG_CACHE_HOME/isobench/images)")
	f.StringVar(&o.imageMirror, "image-mirror", image.DefaultMirror, "Debian mirror a missing guest image is built from")
	f.IntSliceVar(&o.suite.Concurrency, "concurrency", d.Concurrency, "levels of the scale workload: sandboxes launched at once per sample")
	f.IntVar(&o.suite.DensityBatch, "density-batch", d.DensityBatch, "density workload: sandboxes launched per batch")
	f.IntVar(&o.suite.DensityMax, "density-max", d.DensityMax, "density workload: most sandboxes kept at once")
	f.StringVar(&o.memoryBudget, "memory-budget", "", "density workload: host memory the idle sandboxes may take (default: half of MemAvailable at its start)")
	addGraderFlags(f, o, "grader-")
}

func suiteHelp() string {
	var parts []string
	for _, n := range suite.SuiteNames() {
		parts = append(parts, n+" ("+suite.PresetDescription(n)+")")
	}
	return strings.Join(parts, "; ")
}

// Package suite defines what a run measures and validates it before
// anything runs, naming the offending field and the fix.
package suite

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/workload"
)

// WorkloadName names a benchmark as the user selects it.
type WorkloadName string

// ColdStart launches a sandbox, waits for the agent's ready frame, and tears
// the sandbox down; every sample of every workload records these phases.
const ColdStart WorkloadName = "coldstart"

// AllWorkloads selects every listed workload.
const AllWorkloads = "all"

// Workload is a benchmark: what the agent is asked to run after it is ready
// (nil for cold start, which measures the launch itself).
type Workload struct {
	Name        WorkloadName
	Description string
	Request     *agent.Request
	// Scratch asks the backend for a scratch volume on the host's disk.
	Scratch bool
	// Network asks for a link to the host, with a native peer on it.
	Network bool
	// WritableRoot asks for a root filesystem the workload writes to.
	WritableRoot bool
	// Restore launches every sample from a snapshot of a ready sandbox,
	// taken once per backend, on backends that can (backend.Snapshotter);
	// Request is then the first request after the restore.
	Restore bool
	// Metrics are what the workload reports (cold-start metrics aside).
	Metrics []metric.Name
	// Concurrency > 0 launches that many sandboxes at once in every sample
	// (the scale workload, one name per level: scale-x8), waits for all,
	// measures their memory while idle, and tears them all down.
	Concurrency int
	// Density keeps launching idle sandboxes in batches until the memory
	// budget, the count limit or a failure, once per backend.
	Density bool
	// Grader load-tests the autograding service on the backend: every
	// sample is one load test (Suite.Grader).
	Grader bool
	// Tools says the workload runs standard tools from the guest image
	// built with ImagePreset.
	Tools       bool
	ImagePreset string
	// LoadGen runs the host's load generators for a server in the
	// sandbox (internal/loadgen) on the host's end of its link.
	LoadGen bool
	// Timeout, when longer than the suite's, bounds this workload's
	// samples instead (a tool's full-size run takes minutes).
	Timeout time.Duration
}

// Scale and Density name the scalability workloads. Scale stands for one
// workload per --concurrency level, named ScaleLevel(n).
const (
	Scale   WorkloadName = "scale"
	Density WorkloadName = "density"
	// Grader is the application scenario: the autograding service under
	// load, each submission in a fresh sandbox.
	Grader WorkloadName = "grader"
)

// ScaleLevel names the scale workload at concurrency n.
func ScaleLevel(n int) WorkloadName { return WorkloadName(fmt.Sprintf("%s-x%d", Scale, n)) }

// MaxConcurrency bounds a --concurrency level, MaxDensity --density-max
// (sandbox numbers within a sample have four digits).
const (
	MaxConcurrency = 1024
	MaxDensity     = 9999
)

// DefaultConcurrency are the scale workload's levels unless --concurrency.
var DefaultConcurrency = []int{1, 2, 4, 8, 16, 32}

// listed are the selectable benchmarks, in display order, with the in-agent
// workload that each runs.
var listed = []struct {
	name                     WorkloadName
	agent                    workload.ID
	scratch, network, rootfs bool
	params                   map[string]string // fixed parameters
}{
	{ColdStart, "", false, false, false, nil},
	{"cpu", workload.CPUID, false, false, false, nil},
	{"memory", workload.Memory, false, false, false, nil},
	{"syscall", workload.Syscall, false, false, false, nil},
	{"spawn", workload.Spawn, false, false, false, nil},
	{"fileio", workload.FileIO, true, false, false, nil},
	// The same file I/O on the sandbox's own (writable, layered) root
	// filesystem: gVisor serves it differently from a bind mount.
	{"fileio-rootfs", workload.FileIO, true, false, true, map[string]string{"dir": "$" + workload.RootDirEnv}},
	{"network", workload.Network, false, true, false, nil},
}

type toolWorkload struct {
	name             WorkloadName
	agent            workload.ID
	scratch, network bool
	preset           string        // the smallest image preset with the tool
	timeout          time.Duration // per sample, full size
}

// toolWorkloads are the standard-tool benchmarks: the reference
// evaluation's tools with its parameters, run from a guest image. "all"
// does not select them: they need an image (see --suite).
var toolWorkloads = []toolWorkload{
	{"sysbench-cpu", workload.SysbenchCPU, false, false, image.PresetTools, 2 * time.Minute},
	{"sysbench-fileio", workload.SysbenchFileIO, true, false, image.PresetTools, 10 * time.Minute},
	{"fio", workload.Fio, true, false, image.PresetTools, 5 * time.Minute},
	{"iperf3", workload.Iperf3, false, true, image.PresetTools, 3 * time.Minute},
	{"oltp", workload.OLTP, true, true, image.PresetStandard, 60 * time.Minute},
	{"http", workload.HTTP, false, true, image.PresetStandard, 15 * time.Minute},
	{"cijob", workload.CIJob, true, false, image.PresetStandard, 15 * time.Minute},
}

// Restore is the snapshot-restore cold start: each sample restores a
// sandbox from a snapshot of a ready one and then runs a short CPU burst as
// its first request, whose wall time shows what a bare restore hides
// (memory that is loaded lazily, on first touch).
const Restore WorkloadName = "restore"

// restoreFirstRun is the first request after a restore.
var restoreFirstRun = map[string]string{"duration": "200ms", "threads": "1"}

// WorkloadNames lists the selectable workload names ("all" selects them all).
func WorkloadNames() []string {
	var out []string
	for _, w := range listed {
		out = append(out, string(w.name))
	}
	out = append(out, string(Restore), string(Scale), string(Density), string(Grader))
	for _, t := range toolWorkloads {
		out = append(out, string(t.name))
	}
	return out
}

// isTool reports whether the named workload runs standard tools.
func isTool(name string) bool {
	return slices.ContainsFunc(toolWorkloads, func(t toolWorkload) bool { return string(t.name) == name })
}

// perSandbox reports whether "all" selects the workload: every workload
// measured in one sandbox at a time. scale, density and grader launch many
// sandboxes and are selected by name.
func perSandbox(name string) bool {
	return name != string(Scale) && name != string(Density) && name != string(Grader) && !isTool(name)
}

// Workload resolves a name with this suite's settings: --quick sizes, and
// the CPU limit for workloads that use every allowed CPU.
func (s Suite) Workload(name string) (Workload, error) {
	if name == "idle" { // hidden: a sandbox that never finishes on its own
		return Workload{Name: "idle", Description: "agent sleeps until cancelled",
			Request: &agent.Request{Workload: string(workload.Sleep)}}, nil
	}
	if n, ok := strings.CutPrefix(name, string(Scale)+"-x"); ok {
		level, err := strconv.Atoi(n)
		if err != nil || level < 1 || level > MaxConcurrency {
			return Workload{}, fmt.Errorf("workloads: %q: the concurrency after %s-x must be 1 to %d", name, Scale, MaxConcurrency)
		}
		return Workload{Name: WorkloadName(name), Concurrency: level,
			Description: fmt.Sprintf("%d sandboxes launched at once: per-instance cold start, time until all are ready, launch rate, memory per idle instance", level),
			Metrics: []metric.Name{metric.ScaleInstanceP50, metric.ScaleInstanceP95, metric.ScaleInstanceP99, metric.ScaleAllReady, metric.ScaleLaunchRate,
				metric.ScaleFailed, metric.ScalePSSPerInstance, metric.ScaleMemAvailPerInst, metric.ScaleHarnessCPU, metric.ScaleHarnessRSS}}, nil
	}
	if name == string(Scale) {
		return Workload{}, fmt.Errorf("workloads: %s must be expanded into its --concurrency levels (ExpandScale)", Scale)
	}
	if name == string(Density) {
		return Workload{Name: Density, Density: true,
			Description: "idle sandboxes launched in batches until the memory budget, the count limit or a failure; the curve of instances against memory and launch time",
			Metrics:     []metric.Name{metric.DensityInstances, metric.DensityPSSPerInstance, metric.DensityMemPerInstance, metric.DensityLastBatchLaunch}}, nil
	}
	if name == string(Grader) {
		return Workload{Name: Grader, Grader: true,
			Description: fmt.Sprintf("the autograding service under load: %d submissions (%s) at %g/s, %d workers, %s sandboxes; end-to-end latency, throughput, phase split, API latency",
				s.GraderSubmissions(), strings.Join(s.Grader.Jobs, ","), s.Grader.Rate, s.Grader.Workers, s.Grader.Mode),
			Metrics: []metric.Name{metric.GraderE2EP50, metric.GraderE2EP95, metric.GraderE2EP99, metric.GraderThroughput, metric.GraderQueue,
				metric.GraderSandboxUp, metric.GraderTestRun, metric.GraderTeardown, metric.GraderHTTPP50, metric.GraderHTTPP99, metric.GraderFailed, metric.GraderSubmissions}}, nil
	}
	if name == string(Restore) {
		spec, err := workload.Lookup(workload.CPUID)
		if err != nil {
			return Workload{}, err
		}
		params := spec.Defaults(s.Quick)
		maps.Copy(params, restoreFirstRun)
		return Workload{Name: Restore, Restore: true,
			Description: "snapshot restore → agent answers, then a 200 ms single-thread CPU burst as the first request (restore.first_run is its wall time)",
			Metrics:     append([]metric.Name{metric.RestoreFirstRun}, spec.Metrics...),
			Request:     &agent.Request{Workload: string(workload.CPUID), Params: params}}, nil
	}
	for _, t := range toolWorkloads {
		if string(t.name) != name {
			continue
		}
		spec, err := workload.Lookup(t.agent)
		if err != nil {
			return Workload{}, err
		}
		params := spec.Defaults(s.Quick)
		if _, err := spec.New(params); err != nil {
			return Workload{}, fmt.Errorf("workloads: %w", err)
		}
		// A bound, not a target: emulated (TCG) guests take many times
		// longer than the native figures that sized it.
		timeout := t.timeout
		metrics := spec.Metrics
		if spec.MetricsOf != nil {
			metrics = spec.MetricsOf(params)
		}
		return Workload{Name: t.name, Description: spec.Description, Scratch: t.scratch, Network: t.network, Metrics: metrics,
			Tools: true, ImagePreset: t.preset, Timeout: timeout, LoadGen: t.network,
			Request: &agent.Request{Workload: string(t.agent), Params: params}}, nil
	}
	for _, l := range listed {
		if string(l.name) != name {
			continue
		}
		if l.agent == "" {
			return Workload{Name: l.name, Description: "launch → agent ready → teardown, with per-phase times"}, nil
		}
		spec, err := workload.Lookup(l.agent)
		if err != nil {
			return Workload{}, err
		}
		params := spec.Defaults(s.Quick)
		maps.Copy(params, l.params)
		if _, ok := params["threads"]; ok {
			params["threads"] = strconv.Itoa(int(math.Ceil(s.Limits.CPUs)))
		}
		// Parse here too: a bad parameter is refused before anything runs.
		if _, err := spec.New(params); err != nil {
			return Workload{}, fmt.Errorf("workloads: %w", err)
		}
		desc := spec.Description
		if l.rootfs {
			desc = "the fileio workload on the sandbox's writable root filesystem (an overlay whose upper layer is on the scratch disk)"
		}
		return Workload{Name: l.name, Description: desc, Scratch: l.scratch, Network: l.network, WritableRoot: l.rootfs, Metrics: spec.Metrics,
			Request: &agent.Request{Workload: string(l.agent), Params: params}}, nil
	}
	return Workload{}, fmt.Errorf("workloads: unknown workload %q (valid: %s, or %s)", name, strings.Join(WorkloadNames(), ", "), AllWorkloads)
}

// ExpandWorkloads replaces "all" by every listed workload.
func ExpandWorkloads(names []string) []string {
	var out []string
	for _, n := range names {
		if n == AllWorkloads {
			for _, w := range WorkloadNames() {
				if perSandbox(w) {
					out = append(out, w)
				}
			}
		} else {
			out = append(out, n)
		}
	}
	return out
}

// ExpandScale replaces "scale" by one workload per concurrency level.
func ExpandScale(names []string, levels []int) []string {
	var out []string
	for _, n := range names {
		if n != string(Scale) {
			out = append(out, n)
			continue
		}
		for _, l := range levels {
			out = append(out, string(ScaleLevel(l)))
		}
	}
	return out
}

// Suite is everything a run is asked to do.
type Suite struct {
	Backends  []string // empty: every available backend
	Workloads []string
	Reps      int
	Warmup    int
	Quick     bool
	Limits    backend.Limits
	Timeout   time.Duration // per sample: launch + workload + teardown
	// LaunchMode: how OCI runtimes are driven (see backend.LaunchMode).
	LaunchMode backend.LaunchMode
	// Concurrency are the scale workload's levels.
	Concurrency []int
	// Density: sandboxes launched per batch, the most kept at once, and
	// the memory they may take (0: half the host's MemAvailable at start).
	DensityBatch int
	DensityMax   int
	MemoryBudget int64
	// Grader configures the grader workload's load test.
	Grader GraderSettings
}

// GraderSettings are the grader workload's load test. The sandboxes get
// the suite's CPU and memory limits.
type GraderSettings struct {
	Submissions int // 0: DefaultGraderSubmissions, or the --quick number
	Rate        float64
	Workers     int
	Mode        string
	Jobs        []string
	TimeLimit   time.Duration
	OutputLimit int64
	Pids        int64
}

// Grader load test sizes, full and --quick.
const (
	DefaultGraderSubmissions = 60
	QuickGraderSubmissions   = 12
)

// GraderSubmissions is the load test's size after --quick.
func (s Suite) GraderSubmissions() int {
	switch {
	case s.Grader.Submissions > 0:
		return s.Grader.Submissions
	case s.Quick:
		return QuickGraderSubmissions
	}
	return DefaultGraderSubmissions
}

// Defaults are the documented defaults of `isobench run`.
func Defaults() Suite {
	return Suite{
		Workloads:    []string{string(ColdStart)},
		Reps:         10,
		Warmup:       2,
		Limits:       backend.Limits{CPUs: 1, MemoryBytes: 512 << 20},
		Timeout:      60 * time.Second,
		LaunchMode:   backend.LaunchPhased,
		Concurrency:  slices.Clone(DefaultConcurrency),
		DensityBatch: 4,
		DensityMax:   256,
		Grader:       DefaultGrader(),
	}
}

// DefaultGrader are the grader workload's defaults: every job kind in
// turn, two a second, two workers, cold sandboxes, a task limit that
// leaves gVisor's runtime threads room.
func DefaultGrader() GraderSettings {
	return GraderSettings{Rate: 2, Workers: 2, Mode: "cold", Jobs: []string{"unit", "cpu", "io"},
		TimeLimit: 60 * time.Second, OutputLimit: 64 << 10, Pids: 512}
}

// QuickReps and QuickWarmup replace the defaults under --quick: six samples
// are the fewest for which a 95% confidence interval of the median exists.
const (
	QuickReps   = 6
	QuickWarmup = 1
	// QuickSuiteReps: a named suite's --quick repetitions. Its tool
	// workloads take seconds to minutes each (many times that in an
	// emulated guest), so --quick keeps three.
	QuickSuiteReps = 3
)

// Validate checks every field and names the first bad one.
func (s Suite) Validate() error {
	if s.Reps < 1 {
		return fmt.Errorf("reps: %d is not allowed; use at least 1 (10 or more for a confidence interval that means something)", s.Reps)
	}
	if s.Reps > 100000 {
		return fmt.Errorf("reps: %d is more than the maximum of 100000", s.Reps)
	}
	if s.Warmup < 0 {
		return fmt.Errorf("warmup: %d is negative; use 0 or more", s.Warmup)
	}
	if s.Timeout <= 0 {
		return fmt.Errorf("timeout: %s is not positive; use e.g. 60s", s.Timeout)
	}
	if !slices.Contains(backend.LaunchModes(), s.LaunchMode) {
		return fmt.Errorf("oci-mode: %q is not one of %v", s.LaunchMode, backend.LaunchModes())
	}
	if err := s.Limits.Validate(); err != nil {
		return err
	}
	for _, c := range s.Concurrency {
		if c < 1 || c > MaxConcurrency {
			return fmt.Errorf("concurrency: %d is not allowed; use levels from 1 to %d, e.g. 1,2,4,8", c, MaxConcurrency)
		}
	}
	if s.DensityBatch < 1 || s.DensityBatch > MaxConcurrency {
		return fmt.Errorf("density-batch: %d is not allowed; use 1 to %d", s.DensityBatch, MaxConcurrency)
	}
	if s.DensityMax < 1 || s.DensityMax > MaxDensity {
		return fmt.Errorf("density-max: %d is not allowed; use 1 to %d", s.DensityMax, MaxDensity)
	}
	if s.MemoryBudget < 0 {
		return fmt.Errorf("memory-budget: %d is negative; use a size such as 4GiB (0: half of the available memory)", s.MemoryBudget)
	}
	if len(s.Workloads) == 0 {
		return fmt.Errorf("workloads: none selected (valid: %s)", strings.Join(WorkloadNames(), ", "))
	}
	for _, w := range s.Workloads {
		if _, err := s.Workload(w); err != nil {
			return err
		}
	}
	if slices.Contains(s.Workloads, string(Grader)) && s.ImagePreset() != "" {
		return fmt.Errorf("workloads: grader and the tool workloads need different sandbox images (busybox for the grader's jobs, the Debian guest image for the tools): run them in separate runs")
	}
	known := backend.Names()
	for _, b := range s.Backends {
		if !slices.Contains(known, b) {
			return fmt.Errorf("backends: unknown backend %q (valid: %s)", b, strings.Join(known, ", "))
		}
	}
	if dup := firstDuplicate(s.Backends); dup != "" {
		return fmt.Errorf("backends: %q listed twice", dup)
	}
	if dup := firstDuplicate(s.Workloads); dup != "" {
		return fmt.Errorf("workloads: %q listed twice", dup)
	}
	return nil
}

func firstDuplicate(xs []string) string {
	seen := map[string]bool{}
	for _, x := range xs {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
}

// ImagePreset is the guest image the suite's tool workloads need: the
// smallest preset that has every tool, or "" when none runs a tool.
func (s Suite) ImagePreset() string {
	preset := ""
	for _, n := range s.Workloads {
		w, err := s.Workload(n)
		if err != nil || !w.Tools {
			continue
		}
		if preset == "" || w.ImagePreset == image.PresetStandard {
			preset = w.ImagePreset
		}
	}
	return preset
}

// Presets are the named suites of --suite: the reference evaluations'
// test tables.
var presets = map[string]struct {
	description string
	workloads   []string
	concurrency []int
}{
	"thesis": {"the reference evaluation (ppeerttu/virtualization-benchmarks): boot, sysbench CPU and file I/O, iperf3, MariaDB OLTP, HTTP load, a C++ CI job",
		[]string{string(ColdStart), "sysbench-cpu", "sysbench-fileio", "iperf3", "oltp", "http", "cijob"}, nil},
	"microvm": {"container vs traditional VM vs micro VM: cold start and its growth with the number of instances, CPU, disk and network I/O",
		[]string{string(ColdStart), string(Scale), "sysbench-cpu", "fio", "iperf3"}, []int{1, 2, 4, 8}},
}

// SuiteNames lists the --suite presets.
func SuiteNames() []string {
	names := slices.Collect(maps.Keys(presets))
	slices.Sort(names)
	return names
}

// ApplyPreset sets the workloads (and scale levels) of a named suite.
func (s *Suite) ApplyPreset(name string) error {
	p, ok := presets[name]
	if !ok {
		return fmt.Errorf("suite: %q is not a suite (valid: %s)", name, strings.Join(SuiteNames(), ", "))
	}
	s.Workloads = slices.Clone(p.workloads)
	if p.concurrency != nil {
		s.Concurrency = slices.Clone(p.concurrency)
	}
	return nil
}

// PresetDescription describes a named suite.
func PresetDescription(name string) string { return presets[name].description }

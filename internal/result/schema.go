// Package result is the versioned results schema (docs/results.md) and its
// JSON reading and writing.
package result

import (
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/metric"
)

// SchemaVersion names the schema of this package; bump on breaking changes.
const SchemaVersion = "isobench/v1"

// Status of a run, as recorded in its file.
type Status string

const (
	StatusRunning     Status = "running"     // file written mid-run (or the process died)
	StatusComplete    Status = "complete"    // every planned sample was attempted
	StatusInterrupted Status = "interrupted" // stopped by a signal; samples so far are valid
	StatusFailed      Status = "failed"
)

// Run is one invocation of `isobench run`: its configuration, environment,
// the backends considered and every raw sample.
type Run struct {
	Schema     string          `json:"schema"`
	ID         string          `json:"id"`
	Isobench   Build           `json:"isobench"`
	Command    []string        `json:"command"`
	Config     Config          `json:"config"`
	Host       hostinfo.Host   `json:"host"`
	Backends   []BackendRecord `json:"backends"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Status     Status          `json:"status"`
	Warnings   []string        `json:"warnings,omitempty"`
	Samples    []Sample        `json:"samples"`
}

// Build identifies the isobench binary.
type Build struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
}

// Config is what the run was asked to do.
type Config struct {
	Backends    []string       `json:"backends"`
	Workloads   []string       `json:"workloads"`
	Reps        int            `json:"reps"`
	Warmup      int            `json:"warmup"`
	Quick       bool           `json:"quick"`
	Limits      backend.Limits `json:"limits"`
	TimeoutSec  float64        `json:"timeout_sec"`
	Interleaved bool           `json:"interleaved"`
	LaunchMode  string         `json:"launch_mode"`
	// Accel is the --accel choice for VM backends; what each backend
	// actually used is in its record and in every sample.
	Accel string `json:"accel,omitempty"`
	// ScratchDir holds the scratch volumes of workloads that need one, on
	// a filesystem of type ScratchFS.
	ScratchDir string `json:"scratch_dir"`
	ScratchFS  string `json:"scratch_fs"`
	// The scale workload's levels and the density workload's bounds
	// (MemoryBudget 0: half of MemAvailable when density started).
	Concurrency  []int `json:"concurrency,omitempty"`
	DensityBatch int   `json:"density_batch,omitempty"`
	DensityMax   int   `json:"density_max,omitempty"`
	MemoryBudget int64 `json:"memory_budget_bytes,omitempty"`
	// Grader is the grader workload's load test, when it ran.
	Grader *GraderConfig `json:"grader,omitempty"`
	// Image describes what every sandbox got beside the agent, if anything.
	Image string `json:"image,omitempty"`
	// GuestImage is the Debian image the standard tools ran from.
	GuestImage *GuestImage `json:"guest_image,omitempty"`
}

// GraderConfig is the grader workload's load test. Each sandbox gets the
// run's CPU and memory limits and the task limit Pids.
type GraderConfig struct {
	Submissions  int      `json:"submissions"`
	Rate         float64  `json:"rate_per_s"`
	Workers      int      `json:"workers"`
	Mode         string   `json:"mode"`
	Jobs         []string `json:"jobs"`
	TimeLimitSec float64  `json:"time_limit_s"`
	OutputLimit  int64    `json:"output_limit_bytes"`
	Pids         int64    `json:"pids"`
	DB           string   `json:"db"`
}

// BackendRecord is a backend considered by the run, used or not.
type BackendRecord struct {
	backend.Info
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why unavailable
	Fix       string `json:"fix,omitempty"`
}

// Sample is one measured repetition of one workload on one backend.
type Sample struct {
	Seq      int            `json:"seq"` // order of execution within the run
	Backend  backend.Name   `json:"backend"`
	Accel    backend.Accel  `json:"accel"`
	Workload string         `json:"workload"`
	Rep      int            `json:"rep"`    // 0-based; warm-ups count separately
	Warmup   bool           `json:"warmup"` // excluded from statistics
	Start    time.Time      `json:"start"`
	Metrics  []metric.Value `json:"metrics"`
	// Skipped: metrics the workload could not measure here, with the reason.
	Skipped map[metric.Name]string `json:"skipped,omitempty"`
	Agent   *agent.Ready           `json:"agent,omitempty"`
	Error   string                 `json:"error,omitempty"`
	// Instances are the sandboxes of a scale sample, in launch order.
	Instances []Instance `json:"instances,omitempty"`
	// Curve is a density sample's state after each batch; Stop says why
	// it ended (memory budget, count limit, or the failure).
	Curve []DensityPoint `json:"curve,omitempty"`
	Stop  string         `json:"stop,omitempty"`
}

// Instance is one sandbox of a scale sample: its cold start, or why it
// did not become ready.
type Instance struct {
	ColdStart float64 `json:"cold_start_s,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// DensityPoint is the state of a density sample after one batch.
type DensityPoint struct {
	Instances int `json:"instances"`
	// MemUsed is the drop in the host's MemAvailable since the start;
	// PSS the summed PSS of every sandbox's host processes.
	MemUsed int64 `json:"mem_used_bytes"`
	PSS     int64 `json:"pss_bytes"`
	// The batch's launch times: median and slowest.
	LaunchP50 float64 `json:"launch_p50_s"`
	LaunchMax float64 `json:"launch_max_s"`
	Failed    int     `json:"failed,omitempty"`
}

// Value returns the named metric of s.
func (s Sample) Value(n metric.Name) (float64, bool) {
	for _, m := range s.Metrics {
		if m.Name == n {
			return m.Value, true
		}
	}
	return 0, false
}

// GuestImage records the guest image of a run's tool workloads: what it
// was built from and the versions of its tools.
type GuestImage struct {
	Preset    string            `json:"preset"`
	Digest    string            `json:"digest"`
	Release   string            `json:"release"`
	Mirror    string            `json:"mirror"`
	Builder   string            `json:"builder"`
	Built     time.Time         `json:"built"`
	SizeBytes int64             `json:"size_bytes"`
	Packages  map[string]string `json:"packages"`
}

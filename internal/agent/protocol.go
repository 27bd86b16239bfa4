// Package agent is isobench's in-sandbox side: the same binary, re-executed
// as "isobench agent", reports ready, runs workloads on request and exits.
//
// The wire protocol is JSON lines. Agent→host lines start with FramePrefix so
// that anything else sharing the stream (a VM's kernel console, a runtime's
// warnings) is recognised as noise and never parsed as a result.
package agent

import (
	"github.com/isobench/isobench/internal/metric"
)

// ProtocolVersion is bumped on any incompatible change to Frame or Request.
const ProtocolVersion = 1

// FramePrefix starts every agent→host line.
const FramePrefix = "@isobench1 "

// FrameType says what a Frame carries.
type FrameType string

const (
	FrameReady  FrameType = "ready"
	FrameResult FrameType = "result"
	FrameError  FrameType = "error"
)

// Frame is one agent→host message.
type Frame struct {
	V      int       `json:"v"`
	Type   FrameType `json:"type"`
	Ready  *Ready    `json:"ready,omitempty"`
	Result *Result   `json:"result,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// Ready is the agent's first frame: it is up and accepts requests.
// Unix times are the sandbox's wall clock, which equals the host's only for
// sandboxes that share the host kernel's clock; durations are monotonic.
type Ready struct {
	PID              int    `json:"pid"`
	StartUnixNano    int64  `json:"start_unix_nano"`
	ReadyUnixNano    int64  `json:"ready_unix_nano"`
	StartToReadyNano int64  `json:"start_to_ready_nano"`
	Kernel           string `json:"kernel"`
	NumCPU           int    `json:"num_cpu"`
	MemTotalBytes    int64  `json:"mem_total_bytes,omitempty"`
	// BootToStartNano is the kernel's uptime when the agent started: in a
	// VM, the guest kernel's share of the cold start.
	BootToStartNano int64 `json:"boot_to_start_nano,omitempty"`
}

// Op is what the host asks of the agent.
type Op string

const (
	OpRun  Op = "run"
	OpExit Op = "exit"
)

// Request is one host→agent line (no prefix: the host owns that direction).
type Request struct {
	V        int               `json:"v"`
	Op       Op                `json:"op"`
	Workload string            `json:"workload,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
}

// Result is what one workload run produced.
type Result struct {
	Workload string         `json:"workload"`
	Metrics  []metric.Value `json:"metrics"`
	// Skipped names the metrics the workload could not measure in this
	// sandbox, with the reason (e.g. O_DIRECT unsupported).
	Skipped       map[metric.Name]string `json:"skipped,omitempty"`
	StartUnixNano int64                  `json:"start_unix_nano"`
	EndUnixNano   int64                  `json:"end_unix_nano"`
	// Log is a job's captured output (the exec workload), capped.
	Log string `json:"log,omitempty"`
}

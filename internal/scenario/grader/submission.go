// Package grader is isobench's application scenario: an autograding
// service. Its HTTP API accepts submissions (files and a test command),
// stores them in a database (SQLite by default, PostgreSQL on request), and
// a worker pool runs each one's tests in a fresh sandbox of the chosen
// backend, under time, memory, task and output limits. Bench drives it
// with a realistic load and measures what the backend costs end to end.
package grader

import (
	"time"
)

// Status is where a submission is in its life.
type Status string

const (
	StatusQueued  Status = "queued"
	StatusRunning Status = "running"
	StatusDone    Status = "done"
)

// Verdict is how a finished submission's tests went.
type Verdict string

const (
	VerdictPassed Verdict = "passed" // the test command exited 0
	VerdictFailed Verdict = "failed" // it exited non-zero: the tests failed
	// VerdictTimeLimit: the time limit killed it (an endless loop, a
	// fork bomb held by the task limit).
	VerdictTimeLimit Verdict = "time_limit"
	// VerdictMemoryLimit: the kernel's OOM killer killed it at the
	// memory limit.
	VerdictMemoryLimit Verdict = "memory_limit"
	// VerdictTaskLimit: it hit the task (pids) limit so hard that its
	// sandbox died (a fork bomb under gVisor, whose runtime threads share
	// the limit).
	VerdictTaskLimit Verdict = "task_limit"
	// VerdictKilled: a signal ended it that no limit of ours sent.
	VerdictKilled Verdict = "killed"
	// VerdictError: the service could not run it (sandbox failed to
	// start, agent died); the message says why.
	VerdictError Verdict = "error"
)

// Submission is one assignment submitted for grading, with its result once
// done. Times are UTC; phase durations are set when it finished.
type Submission struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Command   string    `json:"command"`
	// Timeout is this submission's time limit.
	Timeout  time.Duration `json:"-"`
	Attempts int           `json:"attempts"`

	StartedAt       *time.Time `json:"started_at,omitempty"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
	Verdict         Verdict    `json:"verdict,omitempty"`
	ExitCode        *int       `json:"exit_code,omitempty"`
	Message         string     `json:"message,omitempty"`
	OutputBytes     int64      `json:"output_bytes,omitempty"`
	OutputTruncated bool       `json:"output_truncated,omitempty"`
	Backend         string     `json:"backend,omitempty"`
	SandboxID       string     `json:"sandbox_id,omitempty"`
	Phases          *Phases    `json:"phases,omitempty"`

	// Archive and Log are served separately (the log endpoint), never
	// inside the JSON of a submission.
	Archive []byte `json:"-"`
	Log     string `json:"-"`
}

// Phases split a submission's latency, in seconds.
type Phases struct {
	// Queue: created → a worker picked it.
	Queue float64 `json:"queue_s"`
	// Sandbox: the worker asked for a sandbox → its agent was ready (a cold
	// start, a wait on the warm pool, or a restore).
	Sandbox float64 `json:"sandbox_s"`
	// Run: the job request → its result (unpack, tests, output).
	Run float64 `json:"run_s"`
	// Teardown: destroying the sandbox.
	Teardown float64 `json:"teardown_s"`
	// Tests is the test command's own wall time, measured in the sandbox.
	Tests float64 `json:"tests_s"`
}

// Outcome is what running a submission produced.
type Outcome struct {
	Verdict         Verdict
	ExitCode        *int
	Message         string
	Log             string
	OutputBytes     int64
	OutputTruncated bool
	Phases          Phases
	SandboxID       string
}

package backend

import (
	"sync"
	"time"

	"github.com/isobench/isobench/internal/agent"
)

// Phase names are the marks on a sandbox's timeline. A phase's duration is
// the time from the previous mark (or the launch call) to its own.
type Phase string

const (
	PhaseSpawn   Phase = "spawn"   // process backend, VMs: fork/exec of the agent or VMM returned
	PhaseCgroup  Phase = "cgroup"  // process backend: placed in its limits cgroup
	PhaseRuntime Phase = "runtime" // OCI one-shot: launch → agent's first Go code (agent clock)
	PhaseCreate  Phase = "create"  // OCI: `runtime create` returned
	PhaseStart   Phase = "start"   // OCI: `runtime start` returned
	PhaseDisk    Phase = "disk"    // VMs: scratch disk image made (only with a scratch volume)
	PhaseAPI     Phase = "api"     // Firecracker, Cloud Hypervisor: the VMM's API socket answers
	PhaseConfig  Phase = "config"  // Firecracker, Cloud Hypervisor: machine configured and boot requested
	PhaseReady   Phase = "ready"   // agent's ready frame received by the host
	PhaseExit    Phase = "exit"    // agent gone (its output closed); VMs: VMM process gone
	PhaseDelete  Phase = "delete"  // runtime state, cgroups, bundle, sockets and disk images removed
)

// Mark is one point on a timeline.
type Mark struct {
	Phase Phase
	At    time.Time
}

// PhaseDuration is one measured phase.
type PhaseDuration struct {
	Phase    Phase
	Duration time.Duration
}

// Timeline records when a sandbox reached each phase, on the host's clock.
type Timeline struct {
	mu     sync.Mutex
	launch time.Time
	marks  []Mark
	ready  *agent.Ready
}

// NewTimeline starts a timeline at the launch call.
func NewTimeline() *Timeline { return &Timeline{launch: time.Now()} }

// Launch is when the launch call began.
func (t *Timeline) Launch() time.Time { return t.launch }

// Mark records that phase p ended now.
func (t *Timeline) Mark(p Phase) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.marks = append(t.marks, Mark{p, now})
}

// MarkAt records that phase p ended at t, a time read from a clock the host
// shares (the agent's, in a sandbox on the host kernel). A t outside the
// timeline so far is clamped, so phases never run backwards.
func (t *Timeline) MarkAt(p Phase, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.launch
	if n := len(t.marks); n > 0 {
		prev = t.marks[n-1].At
	}
	if at.Before(prev) {
		at = prev
	}
	if now := time.Now(); at.After(now) {
		at = now
	}
	t.marks = append(t.marks, Mark{p, at})
}

// SetReady keeps the agent's ready frame, for its own clock points.
func (t *Timeline) SetReady(r *agent.Ready) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ready = r
}

// Ready returns the agent's ready frame, nil before it arrived.
func (t *Timeline) Ready() *agent.Ready {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready
}

// Phases returns every phase's duration in order.
func (t *Timeline) Phases() []PhaseDuration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PhaseDuration, 0, len(t.marks))
	prev := t.launch
	for _, m := range t.marks {
		out = append(out, PhaseDuration{m.Phase, m.At.Sub(prev)})
		prev = m.At
	}
	return out
}

// Since returns the time from the launch call to the mark of p.
func (t *Timeline) Since(p Phase) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.marks {
		if m.Phase == p {
			return m.At.Sub(t.launch), true
		}
	}
	return 0, false
}

package grader

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// limitWatch counts a sandbox's limit hits (OOM kills, refused forks)
// during a job. It samples the sandbox's cgroup counters while the job
// runs, because a runtime may remove a dead sandbox's cgroup at once
// (Docker does), and the counters are gone with it.
type limitWatch struct {
	sb      backend.Sandbox
	cgroups backend.SandboxCgroups
	found   bool
	before  backend.CgroupEvents

	mu   sync.Mutex
	peak backend.CgroupEvents
	stop chan struct{}
	done chan struct{}
}

// watchLimits starts sampling sb's cgroups (if they can be found).
func watchLimits(ctx context.Context, sb backend.Sandbox) *limitWatch {
	w := &limitWatch{sb: sb, stop: make(chan struct{}), done: make(chan struct{})}
	if st, err := sb.Stats(ctx); err == nil && len(st.HostPIDs) > 0 {
		w.cgroups, w.found = backend.CgroupsOf(st.HostPIDs[0])
		// A VMM without a cgroup of its own sits in the service's: its
		// counters are not the sandbox's (a VM's job is counted in the
		// guest instead).
		if own, ok := backend.CgroupsOf(os.Getpid()); ok && own == w.cgroups {
			w.found = false
		}
	}
	if !w.found {
		close(w.done)
		return w
	}
	w.before = w.cgroups.Events()
	w.peak = w.before
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *limitWatch) sample() {
	e := w.cgroups.Events()
	w.mu.Lock()
	w.peak.OOMKills = max(w.peak.OOMKills, e.OOMKills)
	w.peak.PidsMax = max(w.peak.PidsMax, e.PidsMax)
	w.mu.Unlock()
}

// hits stops sampling and returns the hits since the start; a runtime's
// own record (backend.LimitReporter) fills in an OOM kill the counters
// missed.
func (w *limitWatch) hits(ctx context.Context) backend.CgroupEvents {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	var h backend.CgroupEvents
	if w.found {
		w.sample()
		w.mu.Lock()
		h = backend.CgroupEvents{OOMKills: w.peak.OOMKills - w.before.OOMKills, PidsMax: w.peak.PidsMax - w.before.PidsMax}
		w.mu.Unlock()
	}
	if r, ok := w.sb.(backend.LimitReporter); ok && h.OOMKills == 0 {
		if rep, err := r.LimitHits(context.WithoutCancel(ctx)); err == nil {
			h.OOMKills = rep.OOMKills
		}
	}
	return h
}

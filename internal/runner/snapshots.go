package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
	"github.com/isobench/isobench/internal/suite"
)

// snapshots holds one snapshot per backend for the restore workload: taken
// at its first restore sample (FaaS platforms snapshot once and restore
// many times), removed when the run ends, also when it is interrupted.
type snapshots struct {
	runID   string
	limits  backend.Limits
	timeout time.Duration
	log     *slog.Logger
	taken   map[backend.Name]backend.Snapshot
	failed  map[backend.Name]error
}

func newSnapshots(runID string, s suite.Suite, log *slog.Logger) *snapshots {
	return &snapshots{runID: runID, limits: s.Limits, timeout: s.Timeout, log: log,
		taken: map[backend.Name]backend.Snapshot{}, failed: map[backend.Name]error{}}
}

// launcher returns how to start a restore sample on b, or why it cannot
// be (a backend without snapshots: a reason, not a failure).
func (ss *snapshots) launcher(ctx context.Context, b backend.Backend) (launchFunc, string, error) {
	sn, ok := b.(backend.Snapshotter)
	if !ok || !b.Info().Capabilities.Snapshot {
		return nil, fmt.Sprintf("%s has no snapshot/restore in isobench", b.Name()), nil
	}
	if err := ss.failed[b.Name()]; err != nil {
		return nil, "", err
	}
	snap, ok := ss.taken[b.Name()]
	if !ok {
		sctx, cancel := context.WithTimeout(ctx, ss.timeout)
		defer cancel()
		start := time.Now()
		spec := backend.Spec{ID: fmt.Sprintf("%s%s-snap-%s", backend.IDPrefix, ss.runID, b.Name()), Limits: ss.limits}
		var err error
		snap, err = sn.Snapshot(sctx, spec)
		if err != nil {
			if ctx.Err() == nil {
				ss.failed[b.Name()] = fmt.Errorf("snapshot: %w", err)
			}
			return nil, "", fmt.Errorf("snapshot: %w", err)
		}
		ss.log.Info("snapshot taken", "backend", b.Name(), "seconds", time.Since(start).Seconds())
		ss.taken[b.Name()] = snap
	}
	return snap.Restore, "", nil
}

// skippedSample records a sample that the backend cannot take (a restore
// without snapshots, a network workload without a link): every metric of
// the workload is n/a with the reason.
func skippedSample(b backend.Backend, w suite.Workload, why string) result.Sample {
	info := b.Info()
	s := result.Sample{Backend: info.Name, Accel: info.Accel, Workload: string(w.Name), Start: time.Now(), Skipped: map[metric.Name]string{metric.ColdStart: why}}
	for _, n := range w.Metrics {
		s.Skipped[n] = why
	}
	return s
}

// removeAll deletes every snapshot taken.
func (ss *snapshots) removeAll() error {
	var errs []error
	for name, snap := range ss.taken {
		if err := snap.Remove(); err != nil {
			errs = append(errs, fmt.Errorf("%s: remove snapshot: %w", name, err))
		}
		delete(ss.taken, name)
	}
	return errors.Join(errs...)
}

package conformance

import (
	"testing"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
)

// A snapshot of a ready sandbox restores, more than once, into sandboxes
// whose agent answers at once and runs workloads, and leaves nothing
// behind.
func TestSnapshotRestore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		sn, ok := b.(backend.Snapshotter)
		if !ok || !b.Info().Capabilities.Snapshot {
			t.Skipf("%s has no snapshot/restore", b.Name())
		}
		ctx := testContext(t)
		snap, err := sn.Snapshot(ctx, backend.Spec{ID: backend.IDPrefix + env.RunID + "-tmpl", Limits: limits})
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		defer func() {
			if err := snap.Remove(); err != nil {
				t.Error(err)
			}
		}()
		for i, suffix := range []string{"r1", "r2"} {
			sb, err := snap.Restore(ctx, backend.Spec{ID: backend.IDPrefix + env.RunID + "-" + suffix, Limits: limits})
			if err != nil {
				t.Fatalf("restore %d: %v", i, err)
			}
			if d, ok := sb.Timeline().Since(backend.PhaseReady); !ok || d <= 0 {
				t.Errorf("restore %d: no ready phase (%v)", i, sb.Timeline().Phases())
			}
			res, err := sb.Run(ctx, agent.Request{Workload: "syscall", Params: map[string]string{"duration": "20ms"}})
			if err != nil || len(res.Metrics) == 0 {
				t.Errorf("restore %d: workload after restore: %+v, %v", i, res, err)
			}
			t.Logf("restore %d: %v", i, sb.Timeline().Phases())
			if err := sb.Close(ctx); err != nil {
				t.Errorf("restore %d: close: %v", i, err)
			}
		}
	})
}

package cloudhypervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/isobench/isobench/internal/backend"
)

// Cloud Hypervisor snapshots a paused VM into a directory (vm.snapshot:
// config.json, state.json, memory-ranges); a fresh VMM restores it
// (vm.restore), by default copying all guest memory before it resumes.

var _ backend.Snapshotter = (*Backend)(nil)

type snapshot struct {
	b   *Backend
	dir string
}

// Snapshot boots a template VM, snapshots it once its agent is ready, and
// stops it.
func (b *Backend) Snapshot(ctx context.Context, spec backend.Spec) (backend.Snapshot, error) {
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: snapshots of VMs with a disk or a network link are not supported", Name)
	}
	sb, api, err := b.launch(ctx, spec, "")
	if err != nil {
		return nil, err
	}
	snap := &snapshot{b: b, dir: filepath.Join(b.env.WorkDir, string(Name), spec.ID+".snapshot")}
	err = os.MkdirAll(snap.dir, 0o700)
	if err == nil {
		err = api.Pause(ctx)
	}
	if err == nil {
		err = api.Snapshot(ctx, snap.dir)
	}
	// Resumed, the template's agent can be asked to exit like any other.
	if rerr := api.Resume(ctx); err == nil {
		err = rerr
	}
	if cerr := sb.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		snap.Remove()
		return nil, fmt.Errorf("%s snapshot: %w", Name, err)
	}
	return snap, nil
}

func (s *snapshot) Restore(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: restored VMs get no disk or network link", Name)
	}
	sb, _, err := s.b.launch(ctx, spec, s.dir)
	return sb, err
}

func (s *snapshot) Remove() error { return os.RemoveAll(s.dir) }

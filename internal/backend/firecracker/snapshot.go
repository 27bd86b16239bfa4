package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/isobench/isobench/internal/backend"
)

// Firecracker snapshots a paused microVM into a state file and a guest
// memory file (PUT /snapshot/create); a fresh Firecracker process loads
// them (PUT /snapshot/load) with the memory file mapped, not read: guest
// pages come in on first touch, which the restore workload's first request
// pays for.

var _ backend.Snapshotter = (*Backend)(nil)

type snapshot struct {
	b          *Backend
	state, mem string
}

// Snapshot boots a template microVM, snapshots it once its agent is ready,
// and stops it.
func (b *Backend) Snapshot(ctx context.Context, spec backend.Spec) (backend.Snapshot, error) {
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: snapshots of microVMs with a disk or a network link are not supported", Name)
	}
	sb, api, err := b.launch(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.env.WorkDir, string(Name))
	snap := &snapshot{b: b, state: filepath.Join(dir, spec.ID+".vmstate"), mem: filepath.Join(dir, spec.ID+".mem")}
	err = api.Pause(ctx)
	if err == nil {
		err = api.CreateSnapshot(ctx, snap.state, snap.mem)
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

// Restore loads the snapshot into a fresh Firecracker process and resumes
// it; the sandbox is ready when the restored agent answers.
func (s *snapshot) Restore(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: restored microVMs get no disk or network link", Name)
	}
	sb, _, err := s.b.launch(ctx, spec, s)
	return sb, err
}

func (s *snapshot) Remove() error {
	var errs []error
	for _, f := range []string{s.state, s.mem} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

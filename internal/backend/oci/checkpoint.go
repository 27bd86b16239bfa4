package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/reaper"
)

// gVisor saves a whole sandbox (sentry state and application memory) with
// `runsc checkpoint --image-path DIR`, which stops the container, and
// starts a new one from it with `runsc restore --image-path DIR --bundle B`,
// a foreground call like `run` whose stdio becomes the restored
// container's. runc and crun checkpoint through CRIU, which isobench does
// not drive; their Info reports no snapshot capability.

var _ backend.Snapshotter = (*Backend)(nil)

type checkpoint struct {
	b     *Backend
	image string
}

// Snapshot launches a container, checkpoints it once its agent is ready,
// and removes it.
func (b *Backend) Snapshot(ctx context.Context, spec backend.Spec) (backend.Snapshot, error) {
	if b.f.kind != backend.KindGVisor {
		return nil, fmt.Errorf("%s: snapshots need runsc (runc and crun need CRIU, which isobench does not drive)", b.f.name)
	}
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: snapshots of sandboxes with a volume or a network link are not supported", b.f.name)
	}
	sb, err := b.Launch(ctx, spec)
	if err != nil {
		return nil, err
	}
	image := filepath.Join(filepath.Dir(b.bundles), "images", spec.ID)
	err = os.MkdirAll(image, 0o700)
	if err == nil {
		_, err = b.rt.run(b.rt.command(ctx, "checkpoint", "--image-path="+image, spec.ID))
	}
	// The checkpoint stopped the container; Close removes what is left.
	if cerr := sb.Close(ctx); err == nil && cerr != nil {
		err = fmt.Errorf("remove checkpointed container: %w", cerr)
	}
	if err != nil {
		os.RemoveAll(image)
		return nil, fmt.Errorf("%s checkpoint: %w", b.f.name, err)
	}
	return &checkpoint{b: b, image: image}, nil
}

func (c *checkpoint) Restore(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, err
	}
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: restored sandboxes get no volume or network link", c.b.f.name)
	}
	return c.b.launch(ctx, spec, c.b.rt, nil, "the sandbox was restored without a network", c.image)
}

func (c *checkpoint) Remove() error {
	if err := os.RemoveAll(c.image); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// launchRestore is launchOneshot with `restore` for `run`: the restored
// agent sent its ready frame before the checkpoint, so it is ready when it
// answers a no-op request.
func (s *sandbox) launchRestore(ctx context.Context, image string, stderr *backend.TailBuffer, stderrDone chan struct{}) error {
	b, p := s.b, s.pipes
	cmd := s.rt.command(context.WithoutCancel(ctx), "restore", "--image-path="+image, "--bundle", s.bundle, s.id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.stdinR, p.stdoutW, p.stderrW
	err := reaper.Start(cmd)
	p.closeChildEnds()
	s.created = true
	if err != nil {
		s.cleanup(ctx)
		return fmt.Errorf("%s restore: %w", b.f.name, err)
	}
	s.runCmd = cmd
	s.runDone = make(chan error, 1)
	go func() { s.runDone <- reaper.Wait(cmd) }()
	s.tl.Mark(backend.PhaseStart)
	if _, err := s.conn.Run(ctx, agent.Request{Workload: "noop"}); err != nil {
		s.cleanup(ctx)
		select {
		case <-stderrDone:
		case <-time.After(time.Second):
		}
		return fmt.Errorf("%s restore: restored agent: %w: %s", b.f.name, err, stderr.String())
	}
	s.tl.Mark(backend.PhaseReady)
	return nil
}

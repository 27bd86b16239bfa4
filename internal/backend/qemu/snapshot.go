package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/vmm"
)

// Snapshots use QEMU's migration to a file: the ready VM is paused and
// migrated into a file ("exec:cat > FILE"; the file: URI needs QEMU 8.2),
// and a restore starts QEMU with the same machine and "-incoming defer",
// feeds it the file and continues it. All guest memory is read before the
// guest runs again: no lazy loading, unlike Firecracker's mmap'd memory.

var _ backend.Snapshotter = (*Backend)(nil)

type snapshot struct {
	b    *Backend
	file string
}

// Snapshot boots a template VM, saves it once its agent is ready, and
// stops it.
func (b *Backend) Snapshot(ctx context.Context, spec backend.Spec) (backend.Snapshot, error) {
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: snapshots of VMs with a disk or a network link are not supported", b.m.name)
	}
	sb, err := b.launch(ctx, spec, "")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.env.WorkDir, string(b.m.name))
	file := filepath.Join(dir, spec.ID+".snapshot")
	qmpPath := vmm.SocketPath(dir, spec.ID, "qmp")
	err = save(ctx, qmpPath, file)
	if cerr := sb.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("%s snapshot: %w", b.m.name, err)
	}
	return &snapshot{b: b, file: file}, nil
}

func (s *snapshot) Restore(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	if spec.Network || spec.Scratch != "" {
		return nil, fmt.Errorf("%s: restored VMs get no disk or network link", s.b.m.name)
	}
	return s.b.launch(ctx, spec, s.file)
}

func (s *snapshot) Remove() error {
	if err := os.Remove(s.file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// save pauses the VM, migrates it into file and ends QEMU.
func save(ctx context.Context, qmpPath, file string) error {
	c, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.execute("stop"); err != nil {
		return err
	}
	// QEMU reports the migration completed once it has written the last
	// byte into the pipe, possibly before cat has written it to the file;
	// quitting then would kill cat with QEMU's process group. The file
	// appears under its name only once cat is done.
	part := file + ".part"
	cmd := "exec:cat > " + shellQuote(part) + " && mv " + shellQuote(part) + " " + shellQuote(file)
	if err := c.call("migrate", map[string]string{"uri": cmd}, nil); err != nil {
		return err
	}
	err = waitMigration(ctx, c)
	if err == nil {
		err = waitForFile(ctx, file)
	}
	if err != nil {
		os.Remove(part)
		return err
	}
	return c.execute("quit")
}

func waitForFile(ctx context.Context, file string) error {
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("snapshot file %s not written: %w", file, context.Cause(ctx))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// restore feeds the snapshot to a QEMU started with -incoming defer and
// continues the guest.
func restore(ctx context.Context, qmpPath, file string) error {
	c, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.call("migrate-incoming", map[string]string{"uri": "exec:cat " + shellQuote(file)}, nil); err != nil {
		return err
	}
	if err := waitMigration(ctx, c); err != nil {
		return err
	}
	return c.execute("cont")
}

// waitMigration polls query-migrate until the migration completed.
func waitMigration(ctx context.Context, c *qmpClient) error {
	for {
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := c.call("query-migrate", nil, &st); err != nil {
			return err
		}
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration (%s): %w", st.Status, context.Cause(ctx))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// shellQuote quotes s for the shell QEMU runs exec: migrations through.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

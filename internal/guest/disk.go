package guest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/isobench/isobench/internal/reaper"
)

// ScratchLabel is the ext4 label of a scratch disk.
const ScratchLabel = "scratch"

// MakeDisk creates path as a sparse raw disk image of size bytes holding
// an empty ext4 file system, for a VM's scratch volume. mkfs.ext4 (from
// e2fsprogs, on every Debian and Ubuntu) makes it; inode tables and the
// journal are initialised now, not lazily in the guest, so the guest's
// first writes are not slowed by background initialisation.
func MakeDisk(ctx context.Context, path string, size int64) error {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return fmt.Errorf("disk image %s: mkfs.ext4 not found (apt-get install e2fsprogs): %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("disk image %s: %w", path, err)
	}
	cmd := exec.CommandContext(ctx, mkfs, "-q", "-F", "-L", ScratchLabel, "-E", "lazy_itable_init=0,lazy_journal_init=0", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := reaper.Run(cmd); err != nil {
		os.Remove(path)
		return fmt.Errorf("disk image %s: mkfs.ext4: %w: %s", path, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

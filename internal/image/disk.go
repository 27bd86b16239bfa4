package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DiskLabel is the ext4 label of an image's disk: a VM guest's agent finds
// the disk by it, whatever name its driver gave the device.
const DiskLabel = "isobench-image"

const diskFile = "disk.ext4"

// Disk returns the image as an ext4 disk image for VM guests, making it
// on first use (mkfs.ext4 -d copies the tree with owners and modes). rootfs
// is an image's Rootfs(); the disk sits beside it in the cache entry and
// goes with it when the image is pruned.
func Disk(ctx context.Context, rootfs string) (string, error) {
	dir := filepath.Dir(rootfs)
	path := filepath.Join(dir, diskFile)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	unlock, err := Cache{Dir: filepath.Dir(dir)}.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil // made while we waited for the lock
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return "", fmt.Errorf("image disk: mkfs.ext4 not found (apt-get install e2fsprogs): %w", err)
	}
	used, files, err := diskUsage(rootfs)
	if err != nil {
		return "", fmt.Errorf("image disk: %w", err)
	}
	// Room for ext4's metadata and one inode per file with a margin; the
	// guest mounts it read-only, so nothing more is needed.
	size := (used + used/4 + 128<<20) >> 20 << 20
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("image disk: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("image disk: %w", err)
	}
	cmd := exec.CommandContext(ctx, mkfs, "-q", "-F", "-L", DiskLabel, "-N", fmt.Sprint(files+files/4+4096), "-d", rootfs, tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("image disk: mkfs.ext4 -d %s: %w: %s", rootfs, err, bytes.TrimSpace(out.Bytes()))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("image disk: %w", err)
	}
	return path, nil
}

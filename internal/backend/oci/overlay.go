package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mountOverlay makes a writable root for one container: the shared,
// read-only image as the lower layer and an upper layer on the scratch
// volume (on disk), mounted at target. It is what a containerd overlay
// snapshot does, and like that it happens before the launch timeline.
func mountOverlay(lower, scratch, target string) (string, error) {
	upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
	for _, d := range []string{upper, work, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount overlay on %s (%s): %w", target, opts, err)
	}
	return target, nil
}

func unmountOverlay(target string) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount writable root %s: %w", target, err)
	}
	return nil
}

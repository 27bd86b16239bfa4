package vmm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/hostnet"
	"github.com/isobench/isobench/internal/guest"
	guestimage "github.com/isobench/isobench/internal/image"
)

// ScratchDiskSize is the scratch disk's size; the image is sparse, so
// only what the guest writes takes host space.
const ScratchDiskSize = 8 << 30

// Disk is a raw disk image attached to one VM.
type Disk struct {
	Path string
	// Direct says the host file system takes O_DIRECT, so the VMM can
	// bypass the host's page cache (QEMU cache=none): the guest's O_DIRECT
	// then reaches the disk, as in a container.
	Direct bool
}

// ScratchDisk makes the sandbox's scratch volume: an ext4 image in
// spec.Scratch (a host directory on disk). It returns nil when the spec
// asks for no scratch volume, or asks for a writable root instead: a VM's
// root is its initramfs, in guest memory, and the workload then reports
// that it has no writable root file system on disk.
func ScratchDisk(ctx context.Context, spec backend.Spec) (*Disk, error) {
	if spec.Scratch == "" || spec.WritableRoot {
		return nil, nil
	}
	d := &Disk{Path: filepath.Join(spec.Scratch, "scratch.ext4")}
	if err := guest.MakeDisk(ctx, d.Path, ScratchDiskSize); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(d.Path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err == nil {
		f.Close()
		d.Direct = true
	} else if !errors.Is(err, syscall.EINVAL) {
		os.Remove(d.Path)
		return nil, fmt.Errorf("disk image %s: %w", d.Path, err)
	}
	return d, nil
}

// Remove deletes the image; a nil Disk has nothing to remove.
func (d *Disk) Remove() error {
	if d == nil {
		return nil
	}
	if err := os.Remove(d.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove disk image: %w", err)
	}
	return nil
}

// DeviceCmdline tells the agent in the guest which driver modules to load
// and what to do with the devices: mount the scratch disk (the first
// virtio disk, vda), mount the guest image's read-only disk (image:
// GuestImageDisk; with both disks the agent finds each by its ext4 label,
// since probe order does not say which is vda), address the network link
// (the first interface). transport is the virtio transport module
// (virtio_pci or virtio_mmio). It is empty when the VM has none of them.
func DeviceCmdline(transport string, disk *Disk, tap *Tap, image bool) string {
	if disk == nil && tap == nil && !image {
		return ""
	}
	mods := []string{transport}
	var args []string
	if disk != nil || image {
		mods = append(mods, "virtio_blk")
	}
	switch {
	case disk != nil && image:
		args = append(args, "isobench.scratch=LABEL="+guest.ScratchLabel)
	case disk != nil:
		args = append(args, "isobench.scratch=/dev/vda")
	}
	if image {
		args = append(args, "isobench.rootfs=LABEL="+guestimage.DiskLabel)
	}
	if tap != nil {
		mods = append(mods, "virtio_net")
		args = append(args, fmt.Sprintf("isobench.net=%s/%d", tap.SandboxIP, hostnet.PrefixLen))
	}
	return strings.Join(append([]string{"isobench.modules=" + strings.Join(mods, ",")}, args...), " ")
}

// VCPUs is the vCPU count for a CPU limit: VMs get whole vCPUs, so a
// fractional limit is rounded up (and said so in each backend's notes).
func VCPUs(l backend.Limits) int { return int(math.Ceil(l.CPUs)) }

// MemoryMiB is the guest memory for a limit (64 MiB at least, for the
// kernel and initramfs).
func MemoryMiB(l backend.Limits) int64 { return max(64, l.MemoryBytes>>20) }

package vmm

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/guest"
	guestimage "github.com/isobench/isobench/internal/image"
)

// Guest is what every VM of a backend boots.
type Guest struct {
	Kernel    guest.Kernel
	Initramfs string
}

// PrepareGuest resolves the kernel (the user's --kernel, or Debian's
// cloud kernel, fetched once and cached) and builds the initramfs around
// this very binary as the agent.
func PrepareGuest(ctx context.Context, env backend.Env) (Guest, error) {
	cache, err := guest.CacheDir()
	if err != nil {
		return Guest{}, err
	}
	k, err := guest.ResolveKernel(ctx, env.KernelPath, cache)
	if err != nil {
		return Guest{}, backend.Unavailable(fmt.Sprintf("no guest kernel: %v", err),
			"pass --kernel PATH to a bzImage, or run on Debian/Ubuntu with apt sources (isobench fetches linux-image-cloud-amd64)")
	}
	initramfs, err := guest.Initramfs(cache, env.AgentPath, k, env.Image)
	if err != nil {
		return Guest{}, err
	}
	return Guest{Kernel: k, Initramfs: initramfs}, nil
}

// InitramfsForLaunch returns the initramfs path and marks the file used
// now: the cache prunes images unused for a week, and a long-lived grader
// service launches VMs from it for longer than that.
func (g Guest) InitramfsForLaunch() string {
	now := time.Now()
	_ = os.Chtimes(g.Initramfs, now, now)
	return g.Initramfs
}

// GuestImageDisk returns the run's guest image as an ext4 disk for VM
// guests (made once per image and cached beside it), or "" when the run
// has no image.
func GuestImageDisk(ctx context.Context, env backend.Env) (string, error) {
	if env.Rootfs == "" {
		return "", nil
	}
	return guestimage.Disk(ctx, env.Rootfs)
}

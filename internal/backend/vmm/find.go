package vmm

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/guest"
	"github.com/isobench/isobench/internal/reaper"
)

// FindBinary locates a VMM and reads the first line of its --version,
// without prefix; either failing makes the backend unavailable with fix.
func FindBinary(ctx context.Context, name, prefix, fix string) (path, version string, err error) {
	path, err = exec.LookPath(name)
	if err != nil {
		return "", "", backend.Unavailable(name+" not found in PATH", fix)
	}
	cmd := exec.CommandContext(ctx, path, "--version")
	var out strings.Builder
	cmd.Stdout = &out
	if err := reaper.Run(cmd); err != nil {
		return "", "", backend.Unavailable(fmt.Sprintf("%s --version failed: %v", path, err), fix)
	}
	first := strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
	return path, strings.TrimPrefix(first, prefix), nil
}

// PrepareELFGuest is PrepareGuest for VMMs that need KVM and boot an ELF
// kernel: it checks /dev/kvm and extracts (once, cached) the ELF image of
// the kernel. vmm names the VMM in reasons.
func PrepareELFGuest(ctx context.Context, env backend.Env, vmm string) (Guest, string, error) {
	if err := KVMOpens(); err != nil {
		return Guest{}, "", backend.Unavailable(fmt.Sprintf("%s needs KVM: %v", vmm, err), "run on a host with hardware virtualization and access to /dev/kvm")
	}
	g, err := PrepareGuest(ctx, env)
	if err != nil {
		return Guest{}, "", err
	}
	cache, err := guest.CacheDir()
	if err != nil {
		return Guest{}, "", err
	}
	vmlinux, err := guest.Vmlinux(cache, g.Kernel)
	if err != nil {
		return Guest{}, "", backend.Unavailable(fmt.Sprintf("no ELF kernel for %s: %v", vmm, err), "pass --kernel PATH to an uncompressed vmlinux")
	}
	return g, vmlinux, nil
}

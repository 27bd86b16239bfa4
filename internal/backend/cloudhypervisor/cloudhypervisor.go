// Package cloudhypervisor runs the agent in a Cloud Hypervisor VM, driven
// through its REST API on a unix socket (vm.create, vm.boot; vmm.shutdown
// as the fallback stop). Cloud Hypervisor needs KVM; it has no emulation.
package cloudhypervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/vmm"
	"github.com/isobench/isobench/internal/guest"
)

// Name is the backend's name.
const Name backend.Name = "cloud-hypervisor"

const binary = "cloud-hypervisor"

func init() {
	backend.Register(backend.Registration{Name: Name, Kind: backend.KindMicroVM, New: New})
}

const installFix = "Cloud Hypervisor is not packaged by Debian 12: download the static binary (cloud-hypervisor-static) from github.com/cloud-hypervisor/cloud-hypervisor/releases into PATH as cloud-hypervisor"

// Backend boots one Cloud Hypervisor VM per sandbox.
type Backend struct {
	path    string
	version string
	guest   vmm.Guest
	vmlinux string
	cmdline string
	env     backend.Env
	// imageDisk is the guest image as an ext4 disk ("" without one).
	imageDisk string

	linkIndex atomic.Uint32
}

var _ backend.Backend = (*Backend)(nil)

// New finds cloud-hypervisor, prepares the guest and boots one probe VM.
func New(ctx context.Context, env backend.Env) (backend.Backend, error) {
	path, version, err := vmm.FindBinary(ctx, binary, "cloud-hypervisor ", installFix)
	if err != nil {
		return nil, err
	}
	// Every release boots an ELF kernel through its PVH entry; bzImages
	// only from v39 on.
	g, vmlinux, err := vmm.PrepareELFGuest(ctx, env, "Cloud Hypervisor")
	if err != nil {
		return nil, err
	}
	if pvh, err := guest.HasPVHNote(vmlinux); err != nil || !pvh {
		return nil, backend.Unavailable(fmt.Sprintf("kernel %s has no PVH entry point (%v), which Cloud Hypervisor boots through", vmlinux, err), "pass --kernel PATH to a vmlinux built with CONFIG_PVH=y")
	}
	imageDisk, err := vmm.GuestImageDisk(ctx, env)
	if err != nil {
		return nil, err
	}
	b := &Backend{path: path, version: version, guest: g, vmlinux: vmlinux, env: env, imageDisk: imageDisk}
	// A guest reset would restart the VM inside the same process; an ACPI
	// power-off ends the process.
	b.cmdline = vmm.KernelCmdline(backend.AccelKVM, "k", "isobench.halt=poweroff")
	if _, _, err := vmm.ChooseAccel(ctx, env.Accel, false, b.probe); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) probe(ctx context.Context, _ backend.Accel) error {
	id := fmt.Sprintf("%s%s-probe-%s", backend.IDPrefix, b.env.RunID, Name)
	if err := vmm.BootProbe(ctx, b.env, b, id); err != nil {
		return backend.Unavailable(fmt.Sprintf("probe VM did not become ready within %s: %v", b.env.ProbeTimeout, err),
			"check the kernel (--kernel PATH to a PVH vmlinux with the 8250 serial console), or raise --probe-timeout")
	}
	return nil
}

func (b *Backend) Name() backend.Name { return Name }

func (b *Backend) Info() backend.Info {
	k := b.guest.Kernel
	return backend.Info{
		Name: Name, Kind: backend.KindMicroVM, Accel: backend.AccelKVM, Version: b.version, Binary: b.path,
		Config: []string{"payload.cmdline " + b.cmdline, "serial Tty (a raw pseudo-terminal on the VMM's stdio), console Off", "scratch disk direct (O_DIRECT) where the host file system allows it"},
		Notes: []string{
			fmt.Sprintf("kernel %s (%s) as ELF %s (PVH entry), initramfs with the agent as /init, serial console", k.Version, k.Source, b.vmlinux),
			"limits: boot_vcpus and memory.size (whole vCPUs: --cpus is rounded up)",
		},
		Capabilities: backend.Capabilities{BlockDevice: true, Network: true, Snapshot: true},
	}
}

// Launch starts Cloud Hypervisor with only its API socket, creates and
// boots the VM through the API, and waits for the agent's ready frame on
// the serial console.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	sb, _, err := b.launch(ctx, spec, "")
	return sb, err
}

// launch boots a VM, or restores the snapshot in directory snapDir into a
// fresh VMM, and returns the sandbox with its API client.
func (b *Backend) launch(ctx context.Context, spec backend.Spec, snapDir string) (backend.Sandbox, *Client, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(b.env.WorkDir, string(Name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	sock := vmm.SocketPath(dir, spec.ID, "ch")
	tl, disk, tap, err := vmm.Devices(ctx, spec, backend.IDPrefix+b.env.RunID, &b.linkIndex)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", Name, err)
	}
	cmd := exec.Command(b.path, "--api-socket", "path="+sock)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	api := NewClient(sock)
	l := vmm.Launch{
		Backend: Name, Cmd: cmd, Timeline: tl, Socket: sock, Disk: disk, Tap: tap,
		// Serial "Tty" mode takes guest input from stdin only if it is a
		// terminal (and works with every release, unlike "Socket").
		Console: vmm.ConsoleTerminal,
		Configure: func(ctx context.Context) error {
			if err := api.Create(ctx, b.config(spec, disk, tap)); err != nil {
				return err
			}
			return api.Boot(ctx)
		},
		StopVMM: api.ShutdownVMM,
		Release: api.Close,
	}
	if snapDir != "" {
		l.Restored = true
		// Restore leaves the VM paused; vm.resume works on every release
		// (the restore call's own "resume" field is newer).
		l.Configure = func(ctx context.Context) error {
			if err := api.Restore(ctx, snapDir, false); err != nil {
				return err
			}
			return api.Resume(ctx)
		}
	}
	sb, err := l.Start(ctx)
	return sb, api, err
}

// config is the VM: the agent's initramfs, the serial port on the VMM's
// terminal (the API's default is the virtio console), and the scratch disk.
func (b *Backend) config(spec backend.Spec, disk *vmm.Disk, tap *vmm.Tap) VMConfig {
	cmdline := b.cmdline
	n := vmm.VCPUs(spec.Limits)
	cfg := VMConfig{
		CPUs:    &CPUsConfig{BootVCPUs: n, MaxVCPUs: n},
		Memory:  &MemoryConfig{Size: vmm.MemoryMiB(spec.Limits) << 20},
		Serial:  &ConsoleConfig{Mode: "Tty"},
		Console: &ConsoleConfig{Mode: "Off"},
	}
	if disk != nil {
		cfg.Disks = []DiskConfig{{Path: disk.Path, Direct: disk.Direct, ID: "scratch"}}
	}
	image := spec.Tools && b.imageDisk != ""
	if image {
		cfg.Disks = append(cfg.Disks, DiskConfig{Path: b.imageDisk, Readonly: true, ID: "image"})
	}
	if tap != nil {
		cfg.Net = []NetConfig{{Tap: tap.HostIf, MAC: tap.MAC(), ID: "net0"}}
	}
	if extra := vmm.DeviceCmdline("virtio_pci", disk, tap, image); extra != "" {
		cmdline += " " + extra
	}
	cfg.Payload = Payload{Kernel: b.vmlinux, Initramfs: b.guest.InitramfsForLaunch(), Cmdline: cmdline}
	return cfg
}

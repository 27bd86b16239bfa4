// Package firecracker runs the agent in a Firecracker microVM, driven
// through Firecracker's REST API on a unix socket: machine configuration,
// boot source (the agent's initramfs), an optional scratch drive, then
// InstanceStart. Firecracker needs KVM; it has no emulation fallback.
package firecracker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/vmm"
)

// Name is the backend's name.
const Name backend.Name = "firecracker"

const binary = "firecracker"

func init() {
	backend.Register(backend.Registration{Name: Name, Kind: backend.KindMicroVM, New: New})
}

const installFix = "Firecracker is not packaged by Debian or Ubuntu: download a release (firecracker-vX.Y.Z-x86_64.tgz) from github.com/firecracker-microvm/firecracker/releases and put its firecracker binary in PATH"

// Backend boots one Firecracker microVM per sandbox.
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

// New finds firecracker, prepares the guest and boots one probe VM.
func New(ctx context.Context, env backend.Env) (backend.Backend, error) {
	path, version, err := vmm.FindBinary(ctx, binary, "Firecracker ", installFix)
	if err != nil {
		return nil, err
	}
	// Firecracker loads ELF kernels only (x86_64).
	g, vmlinux, err := vmm.PrepareELFGuest(ctx, env, "Firecracker")
	if err != nil {
		return nil, err
	}
	imageDisk, err := vmm.GuestImageDisk(ctx, env)
	if err != nil {
		return nil, err
	}
	b := &Backend{path: path, version: version, guest: g, vmlinux: vmlinux, env: env, imageDisk: imageDisk}
	// pci=off: Firecracker has no PCI bus; probing for one costs boot time.
	b.cmdline = vmm.KernelCmdline(backend.AccelKVM, "k", "pci=off")
	if _, _, err := vmm.ChooseAccel(ctx, env.Accel, false, b.probe); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) probe(ctx context.Context, _ backend.Accel) error {
	id := fmt.Sprintf("%s%s-probe-%s", backend.IDPrefix, b.env.RunID, Name)
	if err := vmm.BootProbe(ctx, b.env, b, id); err != nil {
		return backend.Unavailable(fmt.Sprintf("probe microVM did not become ready within %s: %v", b.env.ProbeTimeout, err),
			"check the kernel: Firecracker needs the serial console (8250) and, for the scratch disk, virtio-mmio devices described by ACPI or built in with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; pass --kernel PATH to such a vmlinux")
	}
	return nil
}

func (b *Backend) Name() backend.Name { return Name }

func (b *Backend) Info() backend.Info {
	k := b.guest.Kernel
	return backend.Info{
		Name: Name, Kind: backend.KindMicroVM, Accel: backend.AccelKVM, Version: b.version, Binary: b.path,
		Config: []string{"boot_args " + b.cmdline, "smt false", "scratch drive cache_type Writeback, io_engine Sync"},
		Notes: []string{
			fmt.Sprintf("kernel %s (%s) as ELF %s, initramfs with the agent as /init, serial console", k.Version, k.Source, b.vmlinux),
			"limits: vcpu_count and mem_size_mib (whole vCPUs: --cpus is rounded up)",
			"no jailer: the VMM runs without its chroot, cgroup and seccomp wrapper, so the figures are the VMM's own",
		},
		Capabilities: backend.Capabilities{BlockDevice: !b.noDevices(), Network: !b.noDevices(), Snapshot: true},
		Unsupported:  b.unsupported(),
	}
}

// noDevices says the guest kernel cannot find Firecracker's virtio-mmio
// devices: Debian's kernel lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, the
// way Firecracker describes them. A user's --kernel is trusted to have it.
func (b *Backend) noDevices() bool { return b.guest.Kernel.Source != "user" }

func (b *Backend) unsupported() map[backend.Feature]string {
	if !b.noDevices() {
		return nil
	}
	why := fmt.Sprintf("no virtio devices with the default kernel: %s lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, the way Firecracker describes its virtio-mmio devices to the guest; pass --kernel PATH to a vmlinux built with it (and CONFIG_VIRTIO_BLK, CONFIG_VIRTIO_NET)", b.guest.Kernel.Source)
	return map[backend.Feature]string{backend.FeatureNetwork: why, backend.FeatureScratch: why, backend.FeatureRootfs: why}
}

// Launch starts Firecracker, configures the machine through the API and
// waits for the agent's ready frame on the serial console.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	sb, _, err := b.launch(ctx, spec, nil)
	return sb, err
}

// launch boots a microVM, or loads snap into a fresh Firecracker process,
// and returns the sandbox with its API client.
func (b *Backend) launch(ctx context.Context, spec backend.Spec, snap *snapshot) (backend.Sandbox, *Client, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(b.env.WorkDir, string(Name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	sock := vmm.SocketPath(dir, spec.ID, "fc")
	if why := b.Info().Missing(spec); why != "" {
		return nil, nil, fmt.Errorf("%s: %s", Name, why)
	}
	tl, disk, tap, err := vmm.Devices(ctx, spec, backend.IDPrefix+b.env.RunID, &b.linkIndex)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", Name, err)
	}
	// Firecracker logs to stdout by default, which is the serial console.
	logPath := sock + ".log"
	cmd := exec.Command(b.path, "--api-sock", sock, "--id", vmID(spec.ID), "--log-path", logPath, "--level", "Warning")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	api := NewClient(sock)
	l := vmm.Launch{
		Backend: Name, Cmd: cmd, Timeline: tl, Socket: sock, Log: logPath, Disk: disk,
		Tap:       tap,
		Configure: func(ctx context.Context) error { return b.configure(ctx, api, spec, disk, tap) },
		// Ctrl+Alt+Del: the guest kernel resets through the keyboard
		// controller (reboot=k), and on a reset Firecracker exits.
		StopVMM: api.SendCtrlAltDel,
		Release: api.Close,
	}
	if snap != nil {
		l.Restored = true
		l.Configure = func(ctx context.Context) error { return api.LoadSnapshot(ctx, snap.state, snap.mem, true) }
	}
	sb, err := l.Start(ctx)
	return sb, api, err
}

func (b *Backend) configure(ctx context.Context, api *Client, spec backend.Spec, disk *vmm.Disk, tap *vmm.Tap) error {
	cmdline := b.cmdline
	image := spec.Tools && b.imageDisk != ""
	if extra := vmm.DeviceCmdline("virtio_mmio", disk, tap, image); extra != "" {
		cmdline += " " + extra
	}
	if err := api.PutMachineConfig(ctx, MachineConfig{VCPUCount: vmm.VCPUs(spec.Limits), MemSizeMiB: vmm.MemoryMiB(spec.Limits)}); err != nil {
		return err
	}
	if err := api.PutBootSource(ctx, BootSource{KernelImagePath: b.vmlinux, InitrdPath: b.guest.InitramfsForLaunch(), BootArgs: cmdline}); err != nil {
		return err
	}
	if disk != nil {
		// Writeback: the guest's flushes (fsync) reach the host file, as
		// they do through a container's bind mount.
		if err := api.PutDrive(ctx, Drive{DriveID: "scratch", PathOnHost: disk.Path, CacheType: "Writeback", IOEngine: "Sync"}); err != nil {
			return err
		}
	}
	if image {
		if err := api.PutDrive(ctx, Drive{DriveID: "image", PathOnHost: b.imageDisk, IsReadOnly: true}); err != nil {
			return err
		}
	}
	if tap != nil {
		if err := api.PutNetworkInterface(ctx, NetworkInterface{IfaceID: "eth0", HostDevName: tap.HostIf, GuestMAC: tap.MAC()}); err != nil {
			return err
		}
	}
	return api.Start(ctx)
}

// vmID is Firecracker's --id: at most 64 characters of [a-zA-Z0-9-].
func vmID(id string) string {
	if len(id) <= 64 {
		return id
	}
	return fmt.Sprintf("%s-%08x", id[:55], backend.Hash32(id))
}

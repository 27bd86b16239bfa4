// Package qemu runs the agent in a QEMU virtual machine: a full machine
// (q35) or the minimal microvm machine, with KVM where it works and TCG
// emulation otherwise. The agent is the initramfs's /init and talks over
// the serial console; QMP is the control channel for a forced stop.
package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/backend/vmm"
	"github.com/isobench/isobench/internal/reaper"
)

type machine struct {
	name    backend.Name
	kind    backend.Kind
	machine string // -M value
}

func init() {
	for _, m := range []machine{
		{name: "qemu", kind: backend.KindVM, machine: "q35"},
		{name: "qemu-microvm", kind: backend.KindMicroVM, machine: "microvm"},
	} {
		backend.Register(backend.Registration{Name: m.name, Kind: m.kind, New: m.construct})
	}
}

const binary = "qemu-system-x86_64"

// Backend boots one VM per sandbox.
type Backend struct {
	m         machine
	qemu      string
	version   string
	guest     vmm.Guest
	accel     backend.Accel
	accelNote string
	cmdline   string
	env       backend.Env
	linkIndex atomic.Uint32
	// imageDisk is the guest image as an ext4 disk ("" without one).
	imageDisk string
}

var _ backend.Backend = (*Backend)(nil)

func (m machine) construct(ctx context.Context, env backend.Env) (backend.Backend, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return nil, backend.Unavailable(binary+" not found in PATH", "apt-get install qemu-system-x86")
	}
	vcmd := exec.CommandContext(ctx, path, "--version")
	var vout strings.Builder
	vcmd.Stdout = &vout
	if err := reaper.Run(vcmd); err != nil {
		return nil, backend.Unavailable(fmt.Sprintf("%s --version failed: %v", path, err), "apt-get install --reinstall qemu-system-x86")
	}
	version := strings.TrimPrefix(strings.SplitN(vout.String(), "\n", 2)[0], "QEMU emulator version ")
	art, err := vmm.PrepareGuest(ctx, env)
	if err != nil {
		return nil, err
	}
	imageDisk, err := vmm.GuestImageDisk(ctx, env)
	if err != nil {
		return nil, err
	}
	b := &Backend{m: m, qemu: path, version: version, guest: art, env: env, imageDisk: imageDisk}
	b.accel, b.accelNote, err = vmm.ChooseAccel(ctx, env.Accel, true, b.probe)
	if err != nil {
		return nil, err
	}
	b.cmdline = vmm.KernelCmdline(b.accel, "t")
	return b, nil
}

// probe boots one small guest with accel.
func (b *Backend) probe(ctx context.Context, accel backend.Accel) error {
	b.accel, b.cmdline = accel, vmm.KernelCmdline(accel, "t")
	id := fmt.Sprintf("%s%s-probe-%s-%s", backend.IDPrefix, b.env.RunID, b.m.name, accel)
	if err := vmm.BootProbe(ctx, b.env, b, id); err != nil {
		return backend.Unavailable(fmt.Sprintf("probe VM (%s) did not become ready within %s: %v", accel, b.env.ProbeTimeout, err),
			"check the kernel with --kernel, or raise --probe-timeout for a slow emulated boot")
	}
	return nil
}

func (b *Backend) Name() backend.Name { return b.m.name }

func (b *Backend) Info() backend.Info {
	k := b.guest.Kernel
	notes := []string{fmt.Sprintf("kernel %s (%s), initramfs with the agent as /init, serial console", k.Version, k.Source),
		"limits: -smp and -m (whole vCPUs: --cpus is rounded up)",
		"scratch volume: an ext4 image on a virtio-blk disk (cache=none where the host file system allows O_DIRECT)"}
	if b.accelNote != "" {
		notes = append(notes, b.accelNote)
	}
	return backend.Info{
		Name: b.m.name, Kind: b.m.kind, Accel: b.accel, Version: b.version, Binary: b.qemu,
		Config:       []string{"-M " + b.m.machine, "-accel " + string(b.accel), "-append " + b.cmdline},
		Notes:        notes,
		Capabilities: backend.Capabilities{BlockDevice: true, Network: true, Snapshot: true},
	}
}

func (b *Backend) args(spec backend.Spec, qmpPath string, disk *vmm.Disk, tap *vmm.Tap) []string {
	args := []string{
		"-M", b.m.machine, "-accel", string(b.accel),
		"-m", fmt.Sprint(vmm.MemoryMiB(spec.Limits)), "-smp", fmt.Sprint(vmm.VCPUs(spec.Limits)),
		"-kernel", b.guest.Kernel.Path, "-initrd", b.guest.InitramfsForLaunch(),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio", "-qmp", "unix:" + qmpPath + ",server=on,wait=off",
	}
	if b.accel == backend.AccelKVM {
		args = append(args, "-cpu", "host")
	}
	// q35 puts virtio devices on PCI; microvm on MMIO.
	transport, suffix := "virtio_pci", "-pci"
	if b.m.machine == "microvm" {
		transport, suffix = "virtio_mmio", "-device"
	}
	if disk != nil {
		cache := "none"
		if !disk.Direct {
			cache = "writeback"
		}
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=scratch,cache=%s,aio=threads", disk.Path, cache),
			"-device", "virtio-blk"+suffix+",drive=scratch")
	}
	image := spec.Tools && b.imageDisk != ""
	if image {
		// Shared by every VM of the run: read-only, so QEMU's image
		// locking lets them all open it.
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=image,readonly=on,cache=writeback", b.imageDisk),
			"-device", "virtio-blk"+suffix+",drive=image")
	}
	if tap != nil {
		// vhost-net moves the data path into the host kernel; it needs
		// KVM's interrupt injection, so emulated guests use QEMU's own.
		vhost := "off"
		if b.accel == backend.AccelKVM && vhostNetOpens() {
			vhost = "on"
		}
		args = append(args,
			"-netdev", fmt.Sprintf("tap,id=net0,ifname=%s,script=no,downscript=no,vhost=%s", tap.HostIf, vhost),
			"-device", fmt.Sprintf("virtio-net%s,netdev=net0,mac=%s", suffix, tap.MAC()))
	}
	cmdline := b.cmdline
	if extra := vmm.DeviceCmdline(transport, disk, tap, image); extra != "" {
		cmdline += " " + extra
	}
	return append(args, "-append", cmdline)
}

// Launch boots a VM and waits for the agent's ready frame on the console.
func (b *Backend) Launch(ctx context.Context, spec backend.Spec) (backend.Sandbox, error) {
	return b.launch(ctx, spec, "")
}

// launch boots a VM, or with incoming set, restores the snapshot file
// incoming into it.
func (b *Backend) launch(ctx context.Context, spec backend.Spec, incoming string) (backend.Sandbox, error) {
	if err := backend.ValidID(spec.ID); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.env.WorkDir, string(b.m.name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	qmpPath := vmm.SocketPath(dir, spec.ID, "qmp")
	tl, disk, tap, err := vmm.Devices(ctx, spec, backend.IDPrefix+b.env.RunID, &b.linkIndex)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.m.name, err)
	}
	args := b.args(spec, qmpPath, disk, tap)
	l := vmm.Launch{
		Backend: b.m.name, Timeline: tl, Socket: qmpPath, Disk: disk, Tap: tap,
		StopVMM: func(ctx context.Context) error { return quit(ctx, qmpPath) },
	}
	if incoming != "" {
		// -S: the restored machine stays paused until "cont".
		args = append(args, "-S", "-incoming", "defer")
		l.Restored = true
		l.Configure = func(ctx context.Context) error { return restore(ctx, qmpPath, incoming) }
	}
	l.Cmd = exec.Command(b.qemu, args...)
	l.Cmd.Env = []string{"PATH=/usr/bin:/bin"}
	return l.Start(ctx)
}

// quit sends QMP "quit".
func quit(ctx context.Context, qmpPath string) error {
	c, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.execute("quit")
}

// vhostNetOpens reports whether QEMU could use vhost-net: with vhost=on
// and no usable /dev/vhost-net, QEMU refuses to start.
func vhostNetOpens() bool {
	f, err := os.OpenFile("/dev/vhost-net", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/workload"
)

// The host tells a guest's init what it attached on the kernel command
// line: isobench.modules=a,b (drivers to load) and isobench.scratch=/dev/X
// (an ext4 disk to mount as the scratch volume).
const (
	cmdlineModules = "isobench.modules"
	cmdlineScratch = "isobench.scratch"
	cmdlineHalt    = "isobench.halt"
	cmdlineNet     = "isobench.net"
	// cmdlineRootfs names the guest image's disk (LABEL=…), mounted
	// read-only at guestRootfs for the tool workloads.
	cmdlineRootfs = "isobench.rootfs"
	guestRootfs   = "/image"
	// guestModules holds the initramfs's driver modules and their
	// dependency list (see guest.ModulesDir).
	guestModules = "/lib/modules/isobench"
	guestScratch = "/scratch"
	// deviceWait bounds the wait for a block device to appear after its
	// driver loaded (probing is asynchronous).
	deviceWait = 10 * time.Second
)

// setUpDevices loads the drivers and mounts the scratch disk the command
// line names.
func setUpDevices(cmdline string) error {
	params := parseCmdline(cmdline)
	if mods := params[cmdlineModules]; mods != "" {
		l := moduleLoader{dir: guestModules, cmdline: strings.Fields(cmdline), loaded: map[string]bool{}}
		for m := range strings.SplitSeq(mods, ",") {
			if err := l.load(m, "the host"); err != nil {
				return err
			}
		}
	}
	if addr := params[cmdlineNet]; addr != "" {
		if err := configureLink(addr, deviceWait); err != nil {
			return err
		}
	}
	if dev := params[cmdlineScratch]; dev != "" {
		dev, err := resolveDevice(dev, deviceWait)
		if err != nil {
			return err
		}
		if err := unix.Mount(dev, guestScratch, "ext4", unix.MS_NOATIME, ""); err != nil {
			return fmt.Errorf("mount scratch disk %s on %s: %w", dev, guestScratch, err)
		}
		if err := os.Setenv(workload.ScratchEnv, guestScratch); err != nil {
			return err
		}
	}
	if dev := params[cmdlineRootfs]; dev != "" {
		dev, err := resolveDevice(dev, deviceWait)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(guestRootfs, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(dev, guestRootfs, "ext4", unix.MS_RDONLY|unix.MS_NOATIME, ""); err != nil {
			return fmt.Errorf("mount the guest image %s on %s: %w", dev, guestRootfs, err)
		}
		if err := os.Setenv(workload.RootfsEnv, guestRootfs); err != nil {
			return err
		}
	}
	return nil
}

// resolveDevice waits for a block device named by path or by ext4 label
// (LABEL=name): with two disks, the order in which virtio devices are
// probed does not say which is which.
func resolveDevice(spec string, limit time.Duration) (string, error) {
	label, byLabel := strings.CutPrefix(spec, "LABEL=")
	if !byLabel {
		return spec, waitForDevice(spec, limit)
	}
	deadline := time.Now().Add(limit)
	for {
		if dev := findExt4Label(label); dev != "" {
			return dev, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no disk labelled %s appeared within %s of loading its driver", label, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// findExt4Label returns the virtio disk whose ext4 superblock carries
// label, or "".
func findExt4Label(label string) string {
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "vd") {
			continue
		}
		dev := "/dev/" + e.Name()
		if ext4Label(dev) == label {
			return dev
		}
	}
	return ""
}

// ext4Label reads the volume name of an ext4 superblock (at byte 1024:
// magic 0xEF53 at +56, the name at +120).
func ext4Label(dev string) string {
	f, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer f.Close()
	sb := make([]byte, 136)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return ""
	}
	if sb[56] != 0x53 || sb[57] != 0xEF {
		return ""
	}
	name := sb[120:136]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name)
}

// parseCmdline splits a kernel command line into key=value pairs (a bare
// word maps to ""). Quoting is not needed for what isobench passes.
func parseCmdline(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = v
	}
	return out
}

// moduleLoader loads modules with finit_module, dependencies first, as
// modprobe would: module parameters come from the command line's
// "module.param=value" words (the kernel applies those itself only to
// built-in drivers; Firecracker and QEMU's microvm describe their
// virtio-mmio devices that way).
type moduleLoader struct {
	dir     string
	cmdline []string // may name a parameter more than once (one device each)
	loaded  map[string]bool
	deps    map[string][]string
}

func (l *moduleLoader) load(name, by string) error {
	name = strings.ReplaceAll(name, "-", "_")
	if l.loaded[name] {
		return nil
	}
	l.loaded[name] = true
	if _, err := os.Stat(filepath.Join("/sys/module", name)); err == nil {
		return nil // built in, or loaded already
	}
	if l.deps == nil {
		l.deps = map[string][]string{}
		if b, err := os.ReadFile(filepath.Join(l.dir, "deps")); err == nil {
			for line := range strings.SplitSeq(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					l.deps[f[0]] = f[1:]
				}
			}
		}
	}
	for _, d := range l.deps[name] {
		if err := l.load(d, name); err != nil {
			return err
		}
	}
	path := filepath.Join(l.dir, name+".ko")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("driver %s (needed by %s): not built into this kernel and no module in the initramfs (%w); use a kernel with it built in", name, by, err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), l.moduleParams(name), 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", name, err)
	}
	return nil
}

func (l *moduleLoader) moduleParams(name string) string {
	var out []string
	for _, f := range l.cmdline {
		if mod, p, ok := strings.Cut(f, "."); ok && strings.ReplaceAll(mod, "-", "_") == name && p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func waitForDevice(dev string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(dev); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("disk %s did not appear within %s of loading its driver", dev, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// configureLink addresses the guest's first network interface with
// prefix (address/length, from the host) and brings it up.
func configureLink(prefix string, limit time.Duration) error {
	p, err := netip.ParsePrefix(prefix)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("%s=%q: not an IPv4 address/length", cmdlineNet, prefix)
	}
	name, err := waitForInterface(limit)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer unix.Close(fd)
	set := func(req uint, addr netip.Addr) error {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		a := addr.As4()
		if err := ifr.SetInet4Addr(a[:]); err != nil {
			return err
		}
		return unix.IoctlIfreq(fd, req, ifr)
	}
	mask := net.CIDRMask(p.Bits(), 32)
	if err := set(unix.SIOCSIFADDR, p.Addr()); err != nil {
		return fmt.Errorf("address %s on %s: %w", p.Addr(), name, err)
	}
	if err := set(unix.SIOCSIFNETMASK, netip.AddrFrom4([4]byte(mask))); err != nil {
		return fmt.Errorf("netmask on %s: %w", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}

// waitForInterface returns the first interface other than lo, waiting for
// its driver to register it.
func waitForInterface(limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		entries, _ := os.ReadDir("/sys/class/net")
		for _, e := range entries {
			if e.Name() != "lo" {
				return e.Name(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no network interface appeared within %s of loading its driver", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

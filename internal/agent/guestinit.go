package agent

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// GuestConsole is the serial port the host reads frames from.
const GuestConsole = "/dev/ttyS0"

// IsGuestInit reports whether this process is a VM's init: PID 1 started
// by the kernel as /init. A container's agent is PID 1 of its namespace
// too, but runs as "/isobench agent".
func IsGuestInit() bool { return os.Getpid() == 1 && len(os.Args) == 1 && os.Args[0] == "/init" }

// GuestInit runs the agent as a VM's init: it mounts what the workloads
// need, serves the protocol on the serial console, and resets the machine
// when done (every VMM isobench drives ends on a guest reset). It never
// returns: init must not exit.
func GuestInit(started time.Time) {
	if err := guestInit(started); err != nil {
		reportBootError(err)
	}
	unix.Sync()
	_ = unix.Reboot(haltCommand())
	select {} // unreachable; init must never return
}

// reportBootError puts why the agent could not start where the host reads:
// an error frame on the console, so the launch fails with this reason
// rather than a bare timeout, and a plain line the host quotes as console
// output. The kernel log is no place: the guest runs with loglevel=1.
func reportBootError(err error) {
	msg := fmt.Sprintf("isobench agent (guest init): %v", err)
	console, cerr := os.OpenFile(GuestConsole, os.O_WRONLY|unix.O_NOCTTY, 0)
	if cerr != nil {
		if f, ferr := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); ferr == nil {
			fmt.Fprintln(f, msg)
			f.Close()
		}
		return
	}
	defer console.Close()
	fmt.Fprintf(console, "\r\n%s\r\n", msg)
	_ = NewFrameWriter(console).Write(Frame{Type: FrameError, Error: msg})
}

func guestInit(started time.Time) error {
	mounts := []struct{ src, dst, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	}
	for _, m := range mounts {
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	if err := setUpDevices(string(cmdline)); err != nil {
		return err
	}
	// From here on only emergency messages (a panic) reach the console, so
	// kernel lines cannot land in the middle of a frame.
	_, _ = unix.Klogctl(unix.SYSLOG_ACTION_CONSOLE_OFF, nil)
	console, err := os.OpenFile(GuestConsole, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", GuestConsole, err)
	}
	defer console.Close()
	// Raw: no echo of requests, no CR/LF rewriting of frames.
	if _, err := term.MakeRaw(int(console.Fd())); err != nil {
		return fmt.Errorf("raw mode on %s: %w", GuestConsole, err)
	}
	return Main(context.Background(), started, console, console)
}

// haltCommand is how the guest ends: a reset by default (QEMU with
// -no-reboot and Firecracker exit on it), or a power-off where the host
// asks for one with isobench.halt=poweroff (Cloud Hypervisor restarts a
// guest that resets, and ends on an ACPI power-off).
func haltCommand() int {
	b, _ := os.ReadFile("/proc/cmdline")
	if parseCmdline(string(b))[cmdlineHalt] == "poweroff" {
		return unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	return unix.LINUX_REBOOT_CMD_RESTART
}

// loopbackUp brings up lo, which nobody else configures in an initramfs.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// bootTime returns the time since the guest's kernel started, for the
// kernel-boot phase of a VM's cold start (zero where it cannot be read).
func bootTime() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

package vmm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
)

// KernelCmdline is the guest kernel's command line: the agent's serial
// console, a quiet kernel (frames are recognised among its lines anyway, but
// fewer lines cost less on an emulated UART), and a panic that resets at
// once. reboot selects how the guest resets: each VMM ends on a different
// reset ("t" triple fault for QEMU -no-reboot, "k" keyboard controller for
// Firecracker). extra is appended.
func KernelCmdline(accel backend.Accel, reboot string, extra ...string) string {
	args := []string{"console=" + strings.TrimPrefix(agent.GuestConsole, "/dev/"), "quiet", "loglevel=1", "reboot=" + reboot, "panic=-1"}
	// Under TCG the guest's TSC runs at the host's TSC rate, but the
	// kernel's calibration against the emulated PIT is slow and hangs in
	// ~5–10% of microvm boots; telling it the rate avoids both. Under KVM
	// the hypervisor reports the rate itself.
	if accel == backend.AccelTCG {
		if khz := hostTSCKHz(); khz > 0 {
			args = append(args, fmt.Sprintf("tsc_early_khz=%d", khz), "tsc=reliable")
		}
	}
	return strings.Join(append(args, extra...), " ")
}

var (
	kmsgTSC  = regexp.MustCompile(`tsc: (?:Refined TSC clocksource calibration|Detected): ([0-9]+\.[0-9]+) MHz`)
	brandGHz = regexp.MustCompile(`@ ([0-9]+\.[0-9]+)GHz`)
)

// hostTSCKHz is the host's TSC rate, or 0 if it cannot be known well. The
// host kernel's own calibration (in its log) comes first; then the nominal
// frequency in an Intel brand string, which is the TSC rate; "cpu MHz" is
// the current core clock, which is the TSC rate only without frequency
// scaling, so it serves only on a host without cpufreq.
func hostTSCKHz() int {
	if mhz := kernelLogTSCMHz(); mhz > 0 {
		return int(mhz * 1000)
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	if !bytes.Contains(b, []byte("constant_tsc")) {
		return 0
	}
	if m := brandGHz.FindSubmatch(b); m != nil {
		if ghz, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
			return int(ghz * 1e6)
		}
	}
	if _, err := os.Stat("/sys/devices/system/cpu/cpu0/cpufreq"); err == nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			if mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}

// kernelLogTSCMHz reads the host kernel's TSC calibration from its log,
// preferring the refined figure; 0 when the log is unreadable or the
// lines have rotated out.
func kernelLogTSCMHz() float64 {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	var mhz float64
	buf := make([]byte, 8192)
	for i := 0; i < 100000; i++ { // bounded: the ring holds a few thousand records
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) { // a record was overwritten while reading
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		if m := kmsgTSC.FindSubmatch(buf[:n]); m != nil {
			v, err := strconv.ParseFloat(string(m[1]), 64)
			if err == nil && (mhz == 0 || bytes.Contains(m[0], []byte("Refined"))) {
				mhz = v
			}
		}
	}
	return mhz
}

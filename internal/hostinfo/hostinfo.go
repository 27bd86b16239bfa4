// Package hostinfo fingerprints the machine a run measured, so that results
// from different hosts are never compared unknowingly.
package hostinfo

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/backend"
)

// Host is the environment of a run.
type Host struct {
	Hostname      string            `json:"hostname"`
	OS            string            `json:"os"`
	Kernel        string            `json:"kernel"`
	Arch          string            `json:"arch"`
	CPUModel      string            `json:"cpu_model"`
	CPUs          int               `json:"cpus"`
	MemTotalBytes int64             `json:"mem_total_bytes"`
	Hypervisor    bool              `json:"hypervisor"` // the host itself is a VM (cpuinfo "hypervisor" flag)
	CgroupLayout  string            `json:"cgroup_layout"`
	Governor      string            `json:"cpu_governor,omitempty"`
	KVM           KVM               `json:"kvm"`
	Runtimes      map[string]string `json:"runtimes,omitempty"` // backend name → version
}

// KVM says what /dev/kvm offers. A device that opens and creates a VM may
// still be unable to boot a guest (nested PVM hosts); only a boot probe by a
// VM backend sets BootVerified.
type KVM struct {
	Present      bool   `json:"present"`
	APIVersion   int    `json:"api_version,omitempty"`
	CreateVM     bool   `json:"create_vm"`
	BootVerified *bool  `json:"boot_verified,omitempty"`
	Note         string `json:"note,omitempty"`
}

// Collect reads the fingerprint. It never fails: unknown fields stay empty.
func Collect() Host {
	h := Host{Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), CgroupLayout: backend.CgroupLayout()}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
	}
	h.OS = osRelease()
	h.CPUModel, h.Hypervisor = cpuInfo()
	h.MemTotalBytes = memTotal()
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"); err == nil {
		h.Governor = strings.TrimSpace(string(b))
	}
	h.KVM = probeKVM()
	return h
}

func osRelease() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func cpuInfo() (model string, hypervisor bool) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		case "flags":
			if !hypervisor {
				hypervisor = strings.Contains(" "+v+" ", " hypervisor ")
			}
		}
	}
	return model, hypervisor
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// ioctl numbers from <linux/kvm.h>.
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
)

func probeKVM() KVM {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return KVM{Note: "no /dev/kvm"}
		}
		return KVM{Present: true, Note: "cannot open /dev/kvm: " + err.Error()}
	}
	defer f.Close()
	k := KVM{Present: true}
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil {
		k.Note = "KVM_GET_API_VERSION: " + err.Error()
		return k
	}
	k.APIVersion = v
	vm, err := unix.IoctlRetInt(int(f.Fd()), kvmCreateVM)
	if err != nil {
		k.Note = "KVM_CREATE_VM: " + err.Error()
		return k
	}
	_ = unix.Close(vm)
	k.CreateVM = true
	k.Note = "device answers; whether guests boot is verified only by a VM backend's boot probe"
	return k
}

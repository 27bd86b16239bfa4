// Package backend defines what an isolation technology must provide to be
// measured: a Backend launches Sandboxes that run the isobench agent.
//
// Backends live in sub-packages and register themselves in init(); the
// command imports them for that side effect only.
package backend

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/agent"
)

// Name is a backend's unique name, e.g. "runc" or "runsc-ptrace".
type Name string

// Kind groups backends by isolation technology.
type Kind string

const (
	KindProcess   Kind = "process"   // no isolation: the native baseline
	KindContainer Kind = "container" // namespaces + cgroups on the host kernel
	KindGVisor    Kind = "gvisor"    // a user-space kernel intercepting syscalls
	KindMicroVM   Kind = "microvm"   // minimal VMM, guest kernel
	KindVM        Kind = "vm"        // full machine model, guest kernel
)

// Accel says how guest code executes. Only VMs can be emulated.
type Accel string

const (
	AccelNative Accel = "native" // host CPU, host kernel (processes, containers, gVisor ptrace/systrap)
	AccelKVM    Accel = "kvm"
	AccelTCG    Accel = "tcg" // emulated: numbers are not comparable to hardware virtualization
)

// AccelChoice is the user's --accel for VM backends.
type AccelChoice string

const (
	// AccelAuto uses KVM when a guest actually boots under it, else TCG.
	AccelAuto    AccelChoice = "auto"
	AccelOnlyKVM AccelChoice = "kvm"
	AccelOnlyTCG AccelChoice = "tcg"
)

// AccelChoices lists the valid --accel values.
func AccelChoices() []AccelChoice { return []AccelChoice{AccelAuto, AccelOnlyKVM, AccelOnlyTCG} }

// Capabilities are optional abilities a planner can rely on.
type Capabilities struct {
	Snapshot    bool `json:"snapshot"`
	Network     bool `json:"network"`
	BlockDevice bool `json:"block_device"`
	Exec        bool `json:"exec"`
}

// Info describes a constructed backend; it is recorded in every result.
type Info struct {
	Name         Name         `json:"name"`
	Kind         Kind         `json:"kind"`
	Accel        Accel        `json:"accel"`
	Version      string       `json:"version,omitempty"`
	Binary       string       `json:"binary,omitempty"`
	Config       []string     `json:"config,omitempty"` // flags and settings that change the numbers
	Notes        []string     `json:"notes,omitempty"`
	Capabilities Capabilities `json:"capabilities"`
	// Unsupported names what a workload may need that this backend cannot
	// provide here, with the reason and fix: such samples are recorded as
	// n/a instead of failing.
	Unsupported map[Feature]string `json:"unsupported,omitempty"`
}

// Feature is something a workload may need from its sandbox.
type Feature string

const (
	FeatureNetwork Feature = "network" // a link to the host (Spec.Network)
	FeatureScratch Feature = "scratch" // a scratch volume (Spec.Scratch)
	FeatureRootfs  Feature = "rootfs"  // the guest image as the sandbox's root (Env.Rootfs)
)

// Missing returns why spec asks for something this backend cannot provide
// here, or "".
func (i Info) Missing(spec Spec) string {
	if spec.Network && i.Unsupported[FeatureNetwork] != "" {
		return i.Unsupported[FeatureNetwork]
	}
	if spec.Scratch != "" && !spec.WritableRoot && i.Unsupported[FeatureScratch] != "" {
		return i.Unsupported[FeatureScratch]
	}
	if spec.Tools && i.Unsupported[FeatureRootfs] != "" {
		return i.Unsupported[FeatureRootfs]
	}
	return ""
}

// Limits are the resources every sandbox of a run gets, identical across
// backends so that their numbers compare.
type Limits struct {
	CPUs        float64 `json:"cpus"`
	MemoryBytes int64   `json:"memory_bytes"`
	// Pids bounds the tasks in a sandbox (0: no bound beyond the host's),
	// so that a fork bomb exhausts its sandbox, not the host's pid space.
	// VMs need none: their guest kernel holds every task.
	Pids int64 `json:"pids,omitempty"`
}

// Validate names the offending field.
func (l Limits) Validate() error {
	if !(l.CPUs > 0) || math.IsInf(l.CPUs, 0) {
		return fmt.Errorf("cpus: %v is not a positive, finite number of CPUs", l.CPUs)
	}
	if l.CPUs < MinCPUs {
		return fmt.Errorf("cpus: %v is below %v: the kernel's smallest CFS quota is 1 ms per 100 ms period", l.CPUs, MinCPUs)
	}
	if l.CPUs > 1024 {
		return fmt.Errorf("cpus: %v is more than 1024", l.CPUs)
	}
	if l.MemoryBytes < 16<<20 {
		return fmt.Errorf("memory: %d bytes is below the 16 MiB minimum", l.MemoryBytes)
	}
	if l.Pids < 0 || l.Pids > 0 && l.Pids < MinPids {
		return fmt.Errorf("pids: %d is not allowed; use 0 (no limit) or at least %d (the agent and its job need a few)", l.Pids, MinPids)
	}
	return nil
}

// MinCPUs is the smallest CPU limit: a 1 ms quota per 100 ms period.
const MinCPUs = 0.01

// MinPids is the smallest task limit: the agent's threads and a shell.
const MinPids = 16

// Spec is what one sandbox is launched with.
type Spec struct {
	// ID is unique among live sandboxes; it names containers, cgroups and
	// temp dirs, so leftovers can be traced to isobench.
	ID     string
	Limits Limits
	// Scratch, when set, is a host directory on disk that the sandbox gets
	// as its scratch volume (bind mount, or attached disk for VMs); the
	// agent finds it through the environment variable workload.ScratchEnv.
	Scratch string
	// WritableRoot asks for a root filesystem the workload may write to:
	// for containers an overlay of the shared image with an upper layer in
	// Scratch (the Scratch volume itself is then not mounted), as a
	// containerd snapshot is; the agent finds a directory on it through
	// workload.RootDirEnv.
	WritableRoot bool
	// Network asks for a link between the sandbox and the host (veth for
	// containers, tap for VMs) with addresses isobench assigns, and the
	// sandbox's loopback up. Backends that cannot give one say so through
	// HostLinker.
	Network bool
	// Tools says the workload runs tools of the guest image (Env.Rootfs).
	Tools bool
}

// HostLinker is implemented by sandboxes launched with Spec.Network: the
// host-side address at which the sandbox reaches a native peer, or, when
// the backend gives it no such link, the reason.
type HostLinker interface {
	HostAddr() (addr string, reason string)
}

// ScratchInSandbox is where container backends mount Spec.Scratch.
const ScratchInSandbox = "/scratch"

// ImageEnv names, in the agent's environment, the directory that holds
// Env.Image when it is not the sandbox's root (the native process).
const ImageEnv = "ISOBENCH_IMAGE"

// RootDirInSandbox is where the fileio workload writes on a container's
// writable root (Spec.WritableRoot).
const RootDirInSandbox = "/var/tmp/isobench"

// Env is what constructors get from the host side.
type Env struct {
	// AgentPath is the static isobench binary copied into every sandbox.
	AgentPath string
	// WorkDir is private to one run; backends keep bundles and runtime state
	// below it, and the runner removes it (and checks for leaks) at the end.
	WorkDir string
	// RunID is the run's unique id; every sandbox id begins with
	// IDPrefix + RunID, probes included.
	RunID string
	// ProbeTimeout bounds every availability probe, so a hanging runtime
	// is reported as unavailable rather than hanging detection.
	ProbeTimeout time.Duration
	// Image is a host directory tree (e.g. bin/busybox and bin/sh) added
	// to every sandbox's root filesystem beside the agent, for workloads
	// that run tools; "" adds nothing. The native process backend runs on
	// the host's filesystem and tells the agent where the tree is instead
	// (ImageEnv).
	Image string
	// Rootfs is a guest image's root filesystem (internal/image): a
	// Debian tree with the standard tools. Containers run on it, read-only,
	// as their root; the native process tells the agent where it is
	// (workload.RootfsEnv) and tools run chrooted into it. "" for suites
	// that run no tools.
	Rootfs string
	// KernelPath is the guest kernel for VM backends ("" = Debian's cloud
	// kernel, fetched and cached).
	KernelPath string
	// Accel is how VM backends run guests ("" is AccelAuto).
	Accel AccelChoice
	// LaunchMode selects how backends whose runtime offers both drive it.
	LaunchMode LaunchMode
	Log        *slog.Logger
}

// LaunchMode is how an OCI runtime is driven.
type LaunchMode string

const (
	// LaunchPhased calls create, start and delete separately, as containerd
	// and Docker do, so each phase is timed on its own (the default).
	LaunchPhased LaunchMode = "phased"
	// LaunchOneshot makes a single foreground `run` call that also deletes
	// the container, as `runc run` from a shell does; phases come from the
	// agent's clock instead.
	LaunchOneshot LaunchMode = "oneshot"
)

// LaunchModes lists the valid modes.
func LaunchModes() []LaunchMode { return []LaunchMode{LaunchPhased, LaunchOneshot} }

// Backend launches sandboxes of one isolation technology.
type Backend interface {
	Name() Name
	Info() Info
	// Launch starts a sandbox and returns once its agent is ready. On error
	// nothing of the sandbox remains.
	Launch(ctx context.Context, spec Spec) (Sandbox, error)
}

// Sandbox is one running isolated agent.
type Sandbox interface {
	// Run sends one request to the agent and waits for its result.
	Run(ctx context.Context, req agent.Request) (*agent.Result, error)
	// Stats reports host-side facts about the sandbox.
	Stats(ctx context.Context) (Stats, error)
	// Close stops the agent and removes everything the sandbox created,
	// even when ctx is already cancelled or the agent hangs.
	Close(ctx context.Context) error
	// Timeline holds the phases measured so far.
	Timeline() *Timeline
}

// Snapshotter is implemented by backends that can start a sandbox from a
// saved image of a ready one, as FaaS platforms do to avoid cold boots.
type Snapshotter interface {
	// Snapshot launches a sandbox per spec, waits for its agent, saves the
	// whole sandbox and stops it.
	Snapshot(ctx context.Context, spec Spec) (Snapshot, error)
}

// Snapshot is a saved, ready sandbox.
type Snapshot interface {
	// Restore starts a sandbox from the snapshot. It returns once the
	// restored agent has answered a request (PhaseReady marks that); the
	// agent sends no second ready frame, so the Timeline holds none.
	Restore(ctx context.Context, spec Spec) (Sandbox, error)
	// Remove deletes the snapshot's files.
	Remove() error
}

// Stats are host-side facts about a running sandbox.
type Stats struct {
	// HostPIDs are the host processes that make up the sandbox (agent,
	// runtime helpers, VMM), for memory accounting; the first is its main
	// process (the agent or the container's init, runsc's sandbox, the VMM).
	HostPIDs []int `json:"host_pids"`
}

// ID prefix of every sandbox, container and cgroup isobench creates.
const IDPrefix = "isobench-"

// LinkPrefix starts the name of every network interface isobench creates.
const LinkPrefix = "isb"

// LinkName names one end ('h' host, 'c' sandbox) of a sandbox's veth pair.
// Interface names hold 15 bytes, too few for the sandbox id, so the name is
// a hash of the run (LinkRunPrefix) followed by a hash of the sandbox id.
func LinkName(runPrefix, id string, end byte) string {
	return fmt.Sprintf("%s%04x%c", LinkRunPrefix(runPrefix), fnv32(id)&0xffff, end)
}

// LinkRunPrefix starts the names of every interface of one run, so that
// leak checks find a run's interfaces and no other run's.
func LinkRunPrefix(runPrefix string) string {
	return fmt.Sprintf("%s%04x", LinkPrefix, fnv32(runPrefix)&0xffff)
}

// Hash32 is a stable 32-bit hash (FNV-1a) for deriving names and addresses.
func Hash32(s string) uint32 { return fnv32(s) }

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// ValidID reports whether id is usable as a container and cgroup name.
func ValidID(id string) error {
	if !strings.HasPrefix(id, IDPrefix) {
		return fmt.Errorf("sandbox id %q must start with %q", id, IDPrefix)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("sandbox id %q: only a-z, 0-9 and - are allowed", id)
		}
	}
	return nil
}

// Sweeper is implemented by backends whose runtime keeps state of its own
// (containers in a state directory): Sweep force-removes whatever is left
// and returns what it removed. The runner calls it at the end of every run;
// anything removed there is reported as a leak.
type Sweeper interface {
	Sweep(ctx context.Context) ([]string, error)
}

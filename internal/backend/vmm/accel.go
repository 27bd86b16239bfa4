package vmm

import (
	"context"
	"fmt"
	"os"

	"github.com/isobench/isobench/internal/backend"
)

// Probe boots one guest with the given acceleration and returns once its
// agent answered (or why it did not).
type Probe func(ctx context.Context, accel backend.Accel) error

// ChooseAccel decides between KVM and TCG emulation. KVM counts as usable
// only if a guest actually boots under it: a /dev/kvm that opens may still
// be unable to run stock kernels (nested PVM devices assert or stall).
// Each acceleration is probed at most once. emulates says whether the VMM
// can run guests without KVM at all (QEMU can; Firecracker cannot). The
// returned note, when set, explains the choice for every report.
func ChooseAccel(ctx context.Context, choice backend.AccelChoice, emulates bool, probe Probe) (backend.Accel, string, error) {
	return chooseAccel(ctx, choice, emulates, KVMOpens(), probe)
}

// chooseAccel is ChooseAccel with the host's /dev/kvm check done.
func chooseAccel(ctx context.Context, choice backend.AccelChoice, emulates bool, kvmErr error, probe Probe) (backend.Accel, string, error) {
	tcg := func(why string) (backend.Accel, string, error) {
		if err := probe(ctx, backend.AccelTCG); err != nil {
			return "", "", err
		}
		return backend.AccelTCG, why + ": the guest is emulated (TCG); its numbers are not comparable to hardware virtualization", nil
	}
	switch choice {
	case backend.AccelOnlyTCG:
		if !emulates {
			return "", "", backend.Unavailable("this VMM runs guests only under KVM and --accel tcg was given", "drop --accel tcg (or use --accel auto) on a host with usable KVM")
		}
		return tcg("--accel tcg")
	case backend.AccelOnlyKVM:
		if kvmErr != nil {
			return "", "", backend.Unavailable(fmt.Sprintf("--accel kvm: %v", kvmErr), kvmFix)
		}
		if err := probe(ctx, backend.AccelKVM); err != nil {
			return "", "", err
		}
		return backend.AccelKVM, "", nil
	case backend.AccelAuto, "":
	default:
		return "", "", fmt.Errorf("accel: %q is not one of %v", choice, backend.AccelChoices())
	}
	if kvmErr == nil {
		err := probe(ctx, backend.AccelKVM)
		if err == nil {
			return backend.AccelKVM, "", nil
		}
		kvmErr = fmt.Errorf("/dev/kvm is present but a KVM guest did not boot: %w", err)
	}
	if !emulates {
		return "", "", backend.Unavailable(fmt.Sprintf("needs usable KVM: %v", kvmErr), kvmFix)
	}
	return tcg(kvmErr.Error())
}

const kvmFix = "run on a host with hardware virtualization (bare metal, or a VM with nested virtualization enabled) and read/write access to /dev/kvm"

// KVMOpens checks that /dev/kvm exists and this process may use it.
func KVMOpens() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open /dev/kvm: %w", err)
	}
	return f.Close()
}

// BootProbe boots one small guest named id within env.ProbeTimeout and
// stops it. Only the boot counts: a guest that answered proved the
// acceleration works, so a slow or forced stop is logged, not returned (it
// must not send a working KVM host to emulation).
func BootProbe(ctx context.Context, env backend.Env, b backend.Backend, id string) error {
	err, closeErr := backend.ProbeLaunch(ctx, env, b, id)
	if closeErr != nil && env.Log != nil {
		env.Log.Warn("probe guest booted but did not stop cleanly", "backend", b.Name(), "error", closeErr)
	}
	return err
}

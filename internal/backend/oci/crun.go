package oci

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/backend"
)

// unifiedMount is where hybrid hosts mount cgroup2 beside the v1 hierarchies.
const unifiedMount = "/sys/fs/cgroup/unified"

// HiddenMountCommand is the agent-binary subcommand that runs a program with
// one mount hidden (see ExecHidingMount).
const HiddenMountCommand = "__exec-hiding-mount"

// prepareCrun handles crun's refusal of hybrid cgroup hosts whose cgroup2
// mount holds a controller ("cgroups in hybrid mode not supported, drop all
// controllers from cgroupv2"). Without changing the host, every crun call
// runs in a private mount namespace where that cgroup2 mount is absent, so
// crun sees a pure v1 host. The v1 hierarchies, where the limits live, are
// shared with the host, so limits and cleanup are unchanged.
func prepareCrun(f *flavor, rt *Runtime, env backend.Env) error {
	if backend.CgroupLayout() != "hybrid" {
		return nil
	}
	ctrl, err := os.ReadFile(unifiedMount + "/cgroup.controllers")
	if err != nil || strings.TrimSpace(string(ctrl)) == "" {
		return nil
	}
	rt.Wrapper = []string{env.AgentPath, HiddenMountCommand, unifiedMount}
	rt.UnshareMounts = true
	f.notes = append(f.notes, "hybrid cgroups with controllers on cgroup2 ("+strings.TrimSpace(string(ctrl))+
		"): each crun call runs in a private mount namespace without "+unifiedMount+
		", through the isobench binary (adds one exec per call); docs/backends.md#crun shows the host setting that avoids it")
	return nil
}

// ExecHidingMount is the body of HiddenMountCommand: args are a mount point,
// a program and its arguments. The caller started this process in a new
// mount namespace (Runtime.UnshareMounts), so the unmount is private to it;
// the check below refuses to touch a mount namespace shared with the parent.
func ExecHidingMount(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("%s: want MOUNTPOINT PROGRAM [ARGS...]", HiddenMountCommand)
	}
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("%s: %w", HiddenMountCommand, err)
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return fmt.Errorf("%s: %w", HiddenMountCommand, err)
	}
	if self == parent {
		return fmt.Errorf("%s: refusing to unmount %s in the parent's mount namespace", HiddenMountCommand, args[0])
	}
	if err := unix.Unmount(args[0], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%s: unmount %s: %w", HiddenMountCommand, args[0], err)
	}
	return unix.Exec(args[1], args[1:], os.Environ())
}

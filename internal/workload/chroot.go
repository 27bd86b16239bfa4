package workload

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// RootfsEnv names, in the agent's environment, a guest image's root
// filesystem that the tools run in, when it is not the sandbox's own root:
// the native process runs on the host's filesystem, and a VM guest mounts
// the image's disk. Tools then run chrooted into it through ChrootCommand.
const RootfsEnv = "ISOBENCH_ROOTFS"

// ChrootCommand is the agent's hidden helper mode (isobench __chroot ROOT
// SCRATCH -- CMD ARGS): it runs in a mount namespace of its own, makes the
// image read-only, mounts /proc, /dev, a private /tmp and the scratch
// volume into it, chroots and executes CMD. Every mount goes with the
// namespace when the tool exits, however it exits.
const ChrootCommand = "__chroot"

// ExecChroot is ChrootCommand's body; it returns only on failure.
func ExecChroot(args []string) error {
	if len(args) < 4 || args[2] != "--" {
		return fmt.Errorf("%s: usage: %s ROOT SCRATCH -- CMD [ARG...]", ChrootCommand, ChrootCommand)
	}
	root, scratch, argv := args[0], args[1], args[3:]
	// The parent started us with CLONE_NEWNS, and Go made every mount
	// private: nothing below propagates to the host or the guest.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", root, err)
	}
	// The cached image must stay as built.
	if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", root, err)
	}
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"/dev", "dev", "", unix.MS_BIND | unix.MS_REC, ""},
		{"/sys", "sys", "", unix.MS_BIND, ""},
		{"tmpfs", "tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=755"},
	}
	for _, m := range mounts {
		if err := unix.Mount(m.src, filepath.Join(root, m.dst), m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s/%s: %w", m.src, root, m.dst, err)
		}
	}
	// Read-only, as containers and VMs see it.
	if err := unix.Mount("", filepath.Join(root, "sys"), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("read-only %s/sys: %w", root, err)
	}
	if scratch != "" {
		if err := unix.Mount(scratch, filepath.Join(root, "scratch"), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the scratch volume %s: %w", scratch, err)
		}
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	env := toolEnv()
	path, err := lookPathIn(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, env)
}

// toolPath is PATH for tools: servers live in sbin.
const toolPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func toolEnv() []string {
	return []string{"PATH=" + toolPath, "HOME=/tmp", "TMPDIR=/tmp", "LC_ALL=C"}
}

func lookPathIn(name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	for _, dir := range filepath.SplitList(toolPath) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not in the image (build it with the preset that has it: isobench image build --preset standard)", name)
}

// toolCommand returns a command running a tool of the guest image: in the
// sandbox's root when the image is it, else chrooted into RootfsEnv. dir,
// when set, is the scratch volume, visible to the tool as /scratch either
// way (containers mount it there).
func toolCommand(name string, args ...string) (*exec.Cmd, error) {
	root := os.Getenv(RootfsEnv)
	if root == "" {
		path, err := lookPathIn(name)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(path, args...)
		cmd.Env = toolEnv()
		cmd.Dir = "/tmp"
		return cmd, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("tool %s: the agent's own path: %w", name, err)
	}
	scratch := os.Getenv(ScratchEnv)
	cmd := exec.Command(self, append([]string{ChrootCommand, root, scratch, "--", name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	cmd.Env = toolEnv()
	return cmd, nil
}

package oci

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/imagetree"
	"github.com/isobench/isobench/internal/workload"
)

// agentInRootfs is where the agent binary sits inside every container.
const agentInRootfs = "/isobench"

// prepareRootfs makes a rootfs that holds only the agent and the empty mount
// points the config needs. It is shared read-only by every container of one
// backend, so a launch never pays for copying the binary.
func prepareRootfs(dir, agentPath, image string) error {
	for _, d := range []string{"proc", "dev", "sys", "tmp", strings.TrimPrefix(backend.ScratchInSandbox, "/")} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	dst := filepath.Join(dir, agentInRootfs)
	if err := copyFile(agentPath, dst, 0o755); err != nil {
		return fmt.Errorf("rootfs: copy agent: %w", err)
	}
	if image == "" {
		return nil
	}
	entries, err := imagetree.Read(image)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if err := imagetree.CopyTo(entries, dir); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ociVersion is the runtime-spec version written to config.json: the
// oldest that has every field used here, so that older runtimes (crun 1.8
// rejects 1.1+) accept it.
const ociVersion = "1.0.2"

// containerSpec is the OCI config of one agent container: a read-only rootfs,
// fresh namespaces (no network), no added capabilities, and the run's limits.
// cgroupsPath is top-level so the runtime's delete removes it entirely.
// sandboxExtras are the optional parts of a container's config.
type sandboxExtras struct {
	scratch   string // host dir to bind-mount as the scratch volume
	netnsPath string // network namespace to join, prepared by isobench
	rootfs    string // a writable root (overlay) instead of the shared one
	agent     string // host path of the agent to bind-mount (on a guest image)
}

func containerSpec(id, rootfs string, limits backend.Limits, extra sandboxExtras) *specs.Spec {
	caps := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"}
	s := &specs.Spec{
		Version: ociVersion,
		Process: &specs.Process{
			Args: []string{agentInRootfs, "agent"},
			Env:  []string{"PATH=/usr/bin:/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: rootfs, Readonly: true},
		Hostname: id,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/" + id,
			Resources:   backend.OCIResources(limits),
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
	if extra.rootfs != "" {
		s.Root = &specs.Root{Path: extra.rootfs}
		s.Process.Env = append(s.Process.Env, workload.RootDirEnv+"="+backend.RootDirInSandbox)
	}
	if extra.agent != "" {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: agentInRootfs, Type: "bind", Source: extra.agent, Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}
	if extra.netnsPath != "" {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = extra.netnsPath
			}
		}
	}
	if extra.scratch != "" {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: backend.ScratchInSandbox, Type: "bind", Source: extra.scratch, Options: []string{"rbind", "rw", "nosuid", "nodev"}})
		s.Process.Env = append(s.Process.Env, workload.ScratchEnv+"="+backend.ScratchInSandbox)
	}
	return s
}

// writeBundle writes config.json into dir.
func writeBundle(dir string, spec *specs.Spec) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle: encode config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

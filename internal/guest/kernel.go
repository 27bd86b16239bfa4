package guest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/isobench/isobench/internal/reaper"
)

// Kernel is a bootable kernel image.
type Kernel struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Source  string `json:"source"` // "user" or the Debian package it came from
}

// metaPackage depends on the current Debian cloud kernel image.
const metaPackage = "linux-image-cloud-amd64"

// ResolveKernel returns the user's kernel when path is set, else Debian's
// cloud kernel from the cache, downloading it (apt-get download, then
// dpkg -x: never installed to /boot) when it is not there yet.
func ResolveKernel(ctx context.Context, path, cacheDir string) (Kernel, error) {
	if path != "" {
		v, err := checkBzImage(path)
		if err != nil {
			return Kernel{}, err
		}
		return Kernel{Path: path, Version: v, Source: "user"}, nil
	}
	pkg, err := kernelPackage(ctx)
	if err != nil {
		return Kernel{}, err
	}
	dir := filepath.Join(cacheDir, "kernel", pkg)
	vmlinuz := filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(vmlinuz); err != nil {
		if err := fetchKernel(ctx, pkg, dir); err != nil {
			return Kernel{}, err
		}
	}
	v, err := checkBzImage(vmlinuz)
	if err != nil {
		return Kernel{}, err
	}
	return Kernel{Path: vmlinuz, Version: v, Source: pkg}, nil
}

// kernelPackage asks apt which linux-image package the meta package needs.
func kernelPackage(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "apt-cache", "depends", metaPackage)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	err := reaper.Run(cmd)
	out := buf.Bytes()
	if err != nil {
		return "", fmt.Errorf("find the kernel package: apt-cache depends %s: %w (on a non-Debian host pass --kernel PATH)", metaPackage, err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: "); ok && strings.HasPrefix(dep, "linux-image-") {
			return dep, nil
		}
	}
	return "", fmt.Errorf("apt-cache depends %s names no linux-image package (run apt-get update, or pass --kernel PATH)", metaPackage)
}

func fetchKernel(ctx context.Context, pkg, dir string) error {
	tmp, err := os.MkdirTemp("", "isobench-kernel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "apt-get", "download", pkg)
	dl.Dir = tmp
	if out, err := combined(dl); err != nil {
		return fmt.Errorf("apt-get download %s: %w: %s", pkg, err, bytes.TrimSpace(out))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %d .deb files", pkg, len(debs))
	}
	x := filepath.Join(tmp, "x")
	if out, err := combined(exec.CommandContext(ctx, "dpkg", "-x", debs[0], x)); err != nil {
		return fmt.Errorf("dpkg -x %s: %w: %s", debs[0], err, bytes.TrimSpace(out))
	}
	images, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return fmt.Errorf("%s holds %d kernel images, want 1", pkg, len(images))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return copyFileAtomic(images[0], filepath.Join(dir, "vmlinuz"))
}

// combined runs cmd through the reaper (isobench may be a subreaper) and
// returns its stdout and stderr together.
func combined(cmd *exec.Cmd) ([]byte, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := reaper.Run(cmd)
	return buf.Bytes(), err
}

func copyFileAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".vmlinuz-*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), dst)
}

// checkBzImage verifies the x86 boot protocol header ("HdrS" at 0x202) and
// reads the version string it points to.
func checkBzImage(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", path, err)
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return "", fmt.Errorf("kernel %s: too short for a bzImage: %w", path, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("kernel %s: not a bzImage (no HdrS boot header at 0x202)", path)
	}
	off := int64(hdr[0x20e]) | int64(hdr[0x20f])<<8
	ver := make([]byte, 128)
	if _, err := f.ReadAt(ver, off+0x200); err != nil && err != io.EOF {
		return "", fmt.Errorf("kernel %s: read version: %w", path, err)
	}
	if i := bytes.IndexByte(ver, 0); i >= 0 {
		ver = ver[:i]
	}
	return strings.Fields(string(ver) + " ?")[0], nil
}

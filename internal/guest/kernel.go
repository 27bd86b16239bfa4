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
	// Modules is a directory of guest driver modules (<name>.ko and
	// DepsFile) for this kernel; empty for a user's kernel, whose drivers
	// must be built in.
	Modules string `json:"-"`
}

// metaPackage depends on the current Debian cloud kernel image.
const metaPackage = "linux-image-cloud-amd64"

// ResolveKernel returns the user's kernel when path is set, else Debian's
// cloud kernel from the cache, downloading it (apt-get download, then
// dpkg -x: never installed to /boot) when it is not there yet.
func ResolveKernel(ctx context.Context, path, cacheDir string) (Kernel, error) {
	if path != "" {
		v, err := checkKernel(path)
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
	k, err := cachedKernel(dir, pkg)
	if err != nil {
		// Missing, incomplete (an older isobench kept no modules) or
		// corrupt: fetch it again rather than fail on a bad cache.
		if err := fetchKernel(ctx, pkg, dir); err != nil {
			return Kernel{}, err
		}
		return cachedKernel(dir, pkg)
	}
	return k, nil
}

func cachedKernel(dir, pkg string) (Kernel, error) {
	vmlinuz := filepath.Join(dir, "vmlinuz")
	v, err := checkBzImage(vmlinuz)
	if err != nil {
		return Kernel{}, err
	}
	mods := filepath.Join(dir, "modules")
	if _, err := os.Stat(filepath.Join(mods, DepsFile)); err != nil {
		return Kernel{}, fmt.Errorf("kernel cache %s: %w", dir, err)
	}
	return Kernel{Path: vmlinuz, Version: v, Source: pkg, Modules: mods}, nil
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

// fetchKernel downloads pkg and keeps its kernel image and the guest
// driver modules in dir, replacing whatever was there. Everything is
// staged beside dir and renamed into place, so a crash leaves no half
// cache.
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
	trees, _ := filepath.Glob(filepath.Join(x, "lib", "modules", "*"))
	if len(trees) != 1 {
		return fmt.Errorf("%s holds %d module trees, want 1", pkg, len(trees))
	}
	mods, err := FindModules(trees[0], GuestModules)
	if err != nil {
		return fmt.Errorf("%s: %w", pkg, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := copyFileSynced(images[0], filepath.Join(stage, "vmlinuz")); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(stage, "modules"), 0o755); err != nil {
		return err
	}
	for _, m := range mods {
		data, err := ReadModule(m.Path)
		if err != nil {
			return err
		}
		if err := writeFileSynced(filepath.Join(stage, "modules", m.Name+".ko"), data); err != nil {
			return err
		}
	}
	if err := writeFileSynced(filepath.Join(stage, "modules", DepsFile), depsFile(mods)); err != nil {
		return err
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(stage, dir); err != nil {
		// Another isobench may have filled the cache meanwhile.
		if _, cerr := cachedKernel(dir, pkg); cerr == nil {
			return nil
		}
		return fmt.Errorf("kernel cache: %w", err)
	}
	return nil
}

// combined runs cmd through the reaper (isobench may be a subreaper) and
// returns its stdout and stderr together.
func combined(cmd *exec.Cmd) ([]byte, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := reaper.Run(cmd)
	return buf.Bytes(), err
}

// copyFileSynced copies src to a new file dst and syncs it to disk.
func copyFileSynced(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkKernel accepts a bzImage or an uncompressed ELF vmlinux (what
// Firecracker and Cloud Hypervisor boot; QEMU boots it through its PVH
// note) and returns its version.
func checkKernel(path string) (string, error) {
	if !isELF(path) {
		return checkBzImage(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", path, err)
	}
	_, rest, ok := bytes.Cut(b, []byte("Linux version "))
	if !ok {
		return "", fmt.Errorf("kernel %s: an ELF file without a Linux version banner: not a vmlinux", path)
	}
	return strings.Fields(string(rest[:min(len(rest), 128)]) + " ?")[0], nil
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

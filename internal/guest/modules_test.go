package guest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// TestDebianKernelCacheHoldsGuestDrivers fetches (or reuses) Debian's
// cloud kernel and checks that the cache holds every guest driver with its
// dependencies, resolved from the modules' own .modinfo.
func TestDebianKernelCacheHoldsGuestDrivers(t *testing.T) {
	k := debianKernel(t)
	b, err := os.ReadFile(filepath.Join(k.Modules, DepsFile))
	if err != nil {
		t.Fatal(err)
	}
	deps := ParseDeps(b)
	for _, want := range append(slices.Clone(GuestModules), "virtio", "virtio_ring", "vsock") {
		if _, ok := deps[want]; !ok {
			t.Errorf("%s missing from the cached modules %v", want, deps)
		}
		if _, err := os.Stat(filepath.Join(k.Modules, want+".ko")); err != nil {
			t.Error(err)
		}
	}
	if !slices.Contains(deps["virtio_blk"], "virtio") {
		t.Errorf("virtio_blk depends on %v, want virtio among them", deps["virtio_blk"])
	}
}

func TestParseDepsRoundTrip(t *testing.T) {
	mods := []Module{{Name: "a"}, {Name: "b", Depends: []string{"a", "c"}}}
	got := ParseDeps(depsFile(mods))
	if len(got) != 2 || len(got["a"]) != 0 || !slices.Equal(got["b"], []string{"a", "c"}) {
		t.Errorf("ParseDeps(depsFile) = %v", got)
	}
}

// Distributions compress modules (Debian 13: xz, Ubuntu: zstd) and users'
// kernels build drivers in: both must resolve, and the initramfs gets the
// modules decompressed.
func TestFindModulesCompressedAndBuiltin(t *testing.T) {
	k := debianKernel(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(k.Modules, name+".ko"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tree := t.TempDir()
	dir := filepath.Join(tree, "kernel", "drivers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var xzBuf, zstBuf bytes.Buffer
	xw, _ := xz.NewWriter(&xzBuf)
	xw.Write(read("virtio_blk"))
	xw.Close()
	zw, _ := zstd.NewWriter(&zstBuf)
	zw.Write(read("virtio"))
	zw.Close()
	files := map[string][]byte{"virtio_blk.ko.xz": xzBuf.Bytes(), "virtio.ko.zst": zstBuf.Bytes(), "virtio_ring.ko": read("virtio_ring")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// virtio_ring is built in here, though a file for it exists too.
	builtin := "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio_ring.ko\n"
	if err := os.WriteFile(filepath.Join(tree, "modules.builtin"), []byte(builtin), 0o644); err != nil {
		t.Fatal(err)
	}
	mods, err := FindModules(tree, []string{"virtio_blk", "virtio_pci"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
		if m.Name == "virtio_blk" && !slices.Equal(m.Depends, []string{"virtio"}) {
			t.Errorf("virtio_blk depends on %v, want [virtio] (virtio_ring is built in)", m.Depends)
		}
	}
	if !slices.Equal(names, []string{"virtio", "virtio_blk"}) {
		t.Errorf("modules %v, want [virtio virtio_blk]", names)
	}
	got, err := ReadModule(filepath.Join(dir, "virtio_blk.ko.xz"))
	if err != nil || !bytes.Equal(got, read("virtio_blk")) {
		t.Errorf("ReadModule(.ko.xz) did not return the module (err %v)", err)
	}
	if _, err := FindModules(tree, []string{"virtio_net"}); err == nil || !strings.Contains(err.Error(), "virtio_net") {
		t.Errorf("a missing module: err = %v, want one naming it", err)
	}
}

// debianKernel fetches (or reuses from the cache) Debian's cloud kernel,
// skipping where apt-get cannot.
func debianKernel(t *testing.T) Kernel {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("not a Debian/Ubuntu host: no apt-get to fetch the cloud kernel")
	}
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ResolveKernel(t.Context(), "", cache)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

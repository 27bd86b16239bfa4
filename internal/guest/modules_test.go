package guest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestDebianKernelCacheHoldsGuestDrivers fetches (or reuses) Debian's
// cloud kernel and checks that the cache holds every guest driver with its
// dependencies, resolved from the modules' own .modinfo.
func TestDebianKernelCacheHoldsGuestDrivers(t *testing.T) {
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

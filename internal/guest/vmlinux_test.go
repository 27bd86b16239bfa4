package guest

import (
	"testing"
)

// TestVmlinuxFromDebianKernel extracts the ELF image from Debian's cloud
// kernel (LZ4-compressed in bookworm) and checks the PVH entry that Cloud
// Hypervisor needs.
func TestVmlinuxFromDebianKernel(t *testing.T) {
	k := debianKernel(t)
	path, err := Vmlinux(t.TempDir(), k)
	if err != nil {
		t.Fatal(err)
	}
	if !isELF(path) {
		t.Fatalf("%s is not ELF", path)
	}
	pvh, err := HasPVHNote(path)
	if err != nil || !pvh {
		t.Errorf("PVH note: %v, %v; Debian's kernel has CONFIG_PVH=y", pvh, err)
	}
}

func TestExtractVmlinuxRejectsNonKernels(t *testing.T) {
	for name, img := range map[string][]byte{"empty": nil, "zeros": make([]byte, 4096)} {
		if _, err := ExtractVmlinux(img); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
}

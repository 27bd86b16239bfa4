package vmm

import "testing"

func TestDeviceCmdline(t *testing.T) {
	disk := &Disk{Path: "/x/scratch.ext4"}
	tests := []struct {
		name  string
		disk  *Disk
		image bool
		want  string
	}{
		{"nothing", nil, false, ""},
		{"scratch only: the first disk", disk, false, "isobench.modules=virtio_pci,virtio_blk isobench.scratch=/dev/vda"},
		{"image only", nil, true, "isobench.modules=virtio_pci,virtio_blk isobench.rootfs=LABEL=isobench-image"},
		{"both: found by label", disk, true, "isobench.modules=virtio_pci,virtio_blk isobench.scratch=LABEL=scratch isobench.rootfs=LABEL=isobench-image"},
	}
	for _, tt := range tests {
		if got := DeviceCmdline("virtio_pci", tt.disk, nil, tt.image); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

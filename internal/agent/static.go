package agent

import (
	"debug/elf"
	"fmt"
)

// CheckStatic verifies that the binary at path can run in an empty rootfs
// or as a VM's init: a dynamically linked build would need a loader and
// libraries that sandboxes do not have.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent binary %s is dynamically linked; build isobench with CGO_ENABLED=0 so it runs inside empty sandboxes", path)
		}
	}
	return nil
}

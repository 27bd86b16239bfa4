package guest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// GuestModules are the drivers the agent may load in a guest: the virtio
// transports (PCI for q35 and Cloud Hypervisor, MMIO for microvm and
// Firecracker), the block, network and console devices, and vsock. Debian's
// cloud kernel builds them as modules; a user's kernel may have them built
// in, and then the initramfs holds none.
var GuestModules = []string{"virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "vmw_vsock_virtio_transport"}

// ModulesDir is where the initramfs holds modules: one <name>.ko per module
// and DepsFile, each line "name dep...", dependencies first.
const (
	ModulesDir = "lib/modules/isobench"
	DepsFile   = "deps"
)

// Module is one kernel module file and the modules it depends on.
type Module struct {
	Name    string
	Path    string
	Depends []string
}

// FindModules locates want and everything they depend on below a kernel's
// module tree (lib/modules/<version>), reading each file's .modinfo.
// Names compare with '-' and '_' alike, as the kernel does.
func FindModules(tree string, want []string) ([]Module, error) {
	files := map[string]string{}
	err := filepath.WalkDir(tree, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".ko") {
			files[ModuleName(strings.TrimSuffix(d.Name(), ".ko"))] = path
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	seen := map[string]*Module{}
	var visit func(name, by string) error
	visit = func(name, by string) error {
		name = ModuleName(name)
		if _, ok := seen[name]; ok {
			return nil
		}
		path, ok := files[name]
		if !ok {
			return fmt.Errorf("modules: %s (needed by %s) is not below %s", name, by, tree)
		}
		deps, err := moduleDepends(path)
		if err != nil {
			return err
		}
		seen[name] = &Module{Name: name, Path: path, Depends: deps}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, w := range want {
		if err := visit(w, "isobench"); err != nil {
			return nil, err
		}
	}
	out := make([]Module, 0, len(seen))
	for _, m := range seen {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ModuleName normalises a module name as the kernel does.
func ModuleName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// moduleDepends reads "depends=" from a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for kv := range bytes.SplitSeq(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for d := range strings.SplitSeq(string(v), ",") {
				if d != "" {
					deps = append(deps, ModuleName(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// depsFile renders modules as DepsFile lines, sorted by name.
func depsFile(mods []Module) []byte {
	var b bytes.Buffer
	for _, m := range mods {
		b.WriteString(strings.Join(append([]string{m.Name}, m.Depends...), " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseDeps reads a DepsFile.
func ParseDeps(data []byte) map[string][]string {
	deps := map[string][]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[f[0]] = slices.Clone(f[1:])
		}
	}
	return deps
}

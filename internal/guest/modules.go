package guest

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
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

// moduleSuffixes are the file names a module may have: distributions
// compress them (Debian 13 with xz, Ubuntu with zstd). The initramfs holds
// them decompressed, so the guest kernel needs no decompressor.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// FindModules locates want and everything they depend on below a kernel's
// module tree (lib/modules/<version>), reading each file's .modinfo. A
// module the kernel has built in (listed in modules.builtin) needs no file
// and is left out. Names compare with '-' and '_' alike, as the kernel does.
func FindModules(tree string, want []string) ([]Module, error) {
	files := map[string]string{}
	err := filepath.WalkDir(tree, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if name, ok := moduleFileName(d.Name()); ok {
			files[ModuleName(name)] = path
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	builtin := builtinModules(tree)
	seen := map[string]*Module{}
	var visit func(name, by string) error
	visit = func(name, by string) error {
		name = ModuleName(name)
		if _, ok := seen[name]; ok || builtin[name] {
			return nil
		}
		path, ok := files[name]
		if !ok {
			return fmt.Errorf("modules: %s (needed by %s) is neither below %s nor built into the kernel", name, by, tree)
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
		// A built-in dependency is no module to load first.
		m.Depends = slices.DeleteFunc(m.Depends, func(d string) bool { return builtin[d] })
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// moduleFileName returns the module name of a module file name.
func moduleFileName(file string) (string, bool) {
	for _, suf := range moduleSuffixes {
		if name, ok := strings.CutSuffix(file, suf); ok {
			return name, true
		}
	}
	return "", false
}

// builtinModules reads modules.builtin: the modules compiled into the
// kernel, one path per line (kernel/drivers/virtio/virtio_pci.ko).
func builtinModules(tree string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(tree, "modules.builtin"))
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, ok := moduleFileName(filepath.Base(strings.TrimSpace(line))); ok {
			out[ModuleName(name)] = true
		}
	}
	return out
}

// ModuleName normalises a module name as the kernel does.
func ModuleName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// ReadModule returns a module file's contents, decompressed.
func ReadModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", path, err)
		}
		r = xr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", path, err)
		}
		r = gr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	return data, nil
}

// moduleDepends reads "depends=" from a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	data, err := ReadModule(path)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for kv := range bytes.SplitSeq(info, []byte{0}) {
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

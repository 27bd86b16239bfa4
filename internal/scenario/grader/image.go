package grader

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// busyboxCandidates are where busybox-static installs its binary.
var busyboxCandidates = []string{"/bin/busybox", "/usr/bin/busybox"}

// busyboxFix says how to get the jobs' tools.
const busyboxFix = "apt-get install busybox-static"

// PrepareImage writes the tree every job sandbox gets beside the agent
// into dir: a static busybox as /bin/busybox and /bin/sh. Its shell runs
// its own applets (awk, sha256sum, dd …) without further links, the same
// code in every backend, the native process included.
func PrepareImage(dir string) error {
	src := ""
	for _, c := range append(busyboxCandidates, lookPath("busybox")) {
		if c != "" && isStatic(c) {
			src = c
			break
		}
	}
	if src == "" {
		return fmt.Errorf("job image: no statically linked busybox found (%v): jobs need a shell in the sandbox; %s", busyboxCandidates, busyboxFix)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("job image: %w", err)
	}
	if err := copyExecutable(src, filepath.Join(bin, "busybox")); err != nil {
		return fmt.Errorf("job image: %w", err)
	}
	if err := os.Symlink("busybox", filepath.Join(bin, "sh")); err != nil {
		return fmt.Errorf("job image: %w", err)
	}
	return nil
}

func lookPath(name string) string {
	p, _ := exec.LookPath(name)
	return p
}

// isStatic: a binary without an ELF interpreter runs in an empty rootfs.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

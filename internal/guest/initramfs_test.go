package guest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
)

func TestInitramfsHoldsAgentAsInit(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte("\x7fELF pretend agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := Initramfs(filepath.Join(dir, "cache"), agent)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Initramfs(filepath.Join(dir, "cache"), agent)
	if err != nil || again != path {
		t.Fatalf("second build: %q, %v; want the cached %q", again, err, path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := cpio.NewReader(f)
	found := map[string]cpio.FileMode{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h.Mode
		if h.Name == "init" {
			body, _ := io.ReadAll(r)
			if !bytes.Equal(body, []byte("\x7fELF pretend agent")) || h.Mode&0o111 == 0 {
				t.Fatalf("init: mode %v, body %q", h.Mode, body)
			}
		}
	}
	for _, want := range []string{"init", "dev", "proc", "sys", "tmp"} {
		if _, ok := found[want]; !ok {
			t.Errorf("initramfs lacks %s (has %v)", want, found)
		}
	}
}

func TestKernelErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "vmlinuz")
	os.WriteFile(bad, bytes.Repeat([]byte{0}, 4096), 0o644)
	for _, p := range []string{bad, filepath.Join(dir, "missing")} {
		if _, err := ResolveKernel(t.Context(), p, dir); err == nil || !bytes.Contains([]byte(err.Error()), []byte(p)) {
			t.Errorf("ResolveKernel(%s): %v, want an error naming the file", p, err)
		}
	}
}

package guest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

func TestInitramfsHoldsAgentAsInit(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte("\x7fELF pretend agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := Initramfs(filepath.Join(dir, "cache"), agent, Kernel{}, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Initramfs(filepath.Join(dir, "cache"), agent, Kernel{}, "")
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

func TestInitramfsCarriesModulesAndRebuildsWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	os.WriteFile(agent, []byte("\x7fELF agent"), 0o755)
	mods := filepath.Join(dir, "modules")
	os.Mkdir(mods, 0o755)
	os.WriteFile(filepath.Join(mods, "virtio_blk.ko"), []byte("blk"), 0o644)
	os.WriteFile(filepath.Join(mods, "virtio.ko"), []byte("virtio"), 0o644)
	os.WriteFile(filepath.Join(mods, DepsFile), []byte("virtio\nvirtio_blk virtio\n"), 0o644)
	k := Kernel{Modules: mods}
	first, err := Initramfs(filepath.Join(dir, "cache"), agent, k, "")
	if err != nil {
		t.Fatal(err)
	}
	names := archiveNames(t, first)
	for _, want := range []string{ModulesDir + "/virtio_blk.ko", ModulesDir + "/virtio.ko", ModulesDir + "/" + DepsFile, "scratch", "init"} {
		if !names[want] {
			t.Errorf("initramfs lacks %s (has %v)", want, names)
		}
	}
	os.WriteFile(filepath.Join(mods, "virtio.ko"), []byte("virtio v2"), 0o644)
	second, err := Initramfs(filepath.Join(dir, "cache"), agent, k, "")
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Errorf("a changed module kept the cached initramfs %s", first)
	}
}

func archiveNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := cpio.NewReader(f)
	names := map[string]bool{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}

func TestCacheDirRefusesADirectoryOthersCanWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	if err := checkOwnDir(dir); err == nil {
		t.Error("a world-writable cache dir was accepted")
	}
	os.Chmod(dir, 0o700)
	if err := checkOwnDir(dir); err != nil {
		t.Errorf("own private dir refused: %v", err)
	}
}

func TestDamagedCachedInitramfsIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	os.WriteFile(agent, []byte("\x7fELF agent"), 0o755)
	path, err := Initramfs(filepath.Join(dir, "cache"), agent, Kernel{}, "")
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	os.WriteFile(path, good[:len(good)/2], 0o644) // truncated, as by a full disk
	again, err := Initramfs(filepath.Join(dir, "cache"), agent, Kernel{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(again); !bytes.Equal(got, good) {
		t.Errorf("damaged initramfs reused (%d bytes, want %d)", len(got), len(good))
	}
}

func TestPruneInitramfs(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ages := []time.Duration{0, time.Hour, 8 * 24 * time.Hour, 9 * 24 * time.Hour, 10 * 24 * time.Hour, 30 * 24 * time.Hour}
	for i, age := range ages {
		p := filepath.Join(dir, fmt.Sprintf("initramfs-%d.cpio", i))
		for _, f := range []string{p, p + ".sha256"} {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f, now.Add(-age), now.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed := pruneInitramfs(dir, now)
	// The four newest stay whatever their age; of the rest, only those
	// unused for a week go.
	if len(removed) != 2 || !strings.HasSuffix(removed[0], "initramfs-4.cpio") || !strings.HasSuffix(removed[1], "initramfs-5.cpio") {
		t.Fatalf("removed %v", removed)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 8 {
		t.Errorf("left %v", left)
	}
}

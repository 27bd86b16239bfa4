package workload

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTinyELFRuns(t *testing.T) {
	prog, err := tinyELF()
	if err != nil {
		t.Skip(err)
	}
	f, err := elf.NewFile(bytes.NewReader(prog))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	if f.Type != elf.ET_EXEC || len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD {
		t.Fatalf("unexpected layout: type %v, %d program headers", f.Type, len(f.Progs))
	}
	path := filepath.Join(t.TempDir(), "true")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(path).Run(); err != nil {
		t.Fatalf("tiny program did not exit 0: %v", err)
	}
}

func TestRandomMapVisitsEveryBlockOnce(t *testing.T) {
	const blocks, size = 1000, 4096
	m := newRandomMap(blocks, size, 1)
	seen := map[int64]bool{}
	inOrder := true
	for i := range blocks {
		off := m.next()
		if off%size != 0 || off < 0 || off >= blocks*size || seen[off] {
			t.Fatalf("offset %d at step %d: misaligned, out of range or repeated", off, i)
		}
		seen[off] = true
		inOrder = inOrder && off == int64(i)*size
	}
	if inOrder {
		t.Fatal("offsets came in sequential order")
	}
	if off := m.next(); off < 0 || off >= blocks*size {
		t.Fatalf("after a full cycle: %d", off)
	}
}

func TestParamsErrorsNameWorkloadAndParameter(t *testing.T) {
	tests := []struct {
		id     ID
		params map[string]string
		want   string
	}{
		{CPUID, map[string]string{"max_prime": "two"}, `cpu: parameter max_prime="two": want an integer ≥ 3`},
		{CPUID, map[string]string{"threads": "0"}, `cpu: parameter threads="0"`},
		{Memory, map[string]string{"size": "lots"}, `memory: parameter size="lots": want a size`},
		{Syscall, map[string]string{"duration": "-1s"}, `syscall: parameter duration="-1s"`},
		{FileIO, map[string]string{"block": "5000"}, "must be a multiple of 4096"},
		{Network, map[string]string{"round_trips": "x"}, `network: parameter round_trips="x"`},
		{Spawn, map[string]string{"speed": "fast"}, `spawn: unknown parameter "speed" (valid: duration, dir)`},
		{Memory, map[string]string{"size": "9999999999999GiB"}, `memory: parameter size`},
		{Network, map[string]string{"peer": "10.0.0.1:80"}, "only loopback or isobench's link range"},
		{Network, map[string]string{"peer": "example.com:80"}, "want IP:port"},
	}
	for _, tc := range tests {
		spec, err := Lookup(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spec.New(tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want %q", tc.id, tc.params, err, tc.want)
		}
	}
}

func TestDefaultsParse(t *testing.T) {
	for _, id := range IDs() {
		spec, _ := Lookup(ID(id))
		for _, quick := range []bool{false, true} {
			if _, err := spec.New(spec.Defaults(quick)); err != nil {
				t.Errorf("%s defaults (quick=%v) do not parse: %v", id, quick, err)
			}
		}
	}
}

func TestChaseIsOneCycle(t *testing.T) {
	// A walk that revisited a line early would measure the cache, not
	// memory: the chase must cover every line before returning to the start.
	perAccess, err := chase(context.Background(), 1<<20, 20*time.Millisecond)
	if err != nil || perAccess <= 0 {
		t.Fatalf("chase: %v, %v", perAccess, err)
	}
}

func TestFileIOSkipsDirectWhereUnsupported(t *testing.T) {
	dir := t.TempDir()
	w := FileBench{Dir: dir, Size: 1 << 20, Block: 1 << 20, RandBlock: 4096, Duration: 5 * time.Millisecond}
	out, err := w.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Values) < 4 {
		t.Fatalf("buffered figures missing: %+v", out.Values)
	}
	// On a filesystem with O_DIRECT all eight are values; on tmpfs the
	// four direct ones are skipped with a reason. Either way, all eight.
	if got := len(out.Values) + len(out.Skipped); got != 8 {
		t.Fatalf("%d values + %d skipped, want 8 in all", len(out.Values), len(out.Skipped))
	}
	for n, why := range out.Skipped {
		if !strings.Contains(why, "O_DIRECT") {
			t.Errorf("%s skipped for %q", n, why)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("test file left behind: %v", entries)
	}
}

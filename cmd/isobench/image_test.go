package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

// TestImageBuildAndToolRun builds the small guest image with debootstrap
// from Debian's archive, runs standard-tool workloads from it on runc (and
// the native process, chrooted into it), and prunes it.
func TestImageBuildAndToolRun(t *testing.T) {
	bin := buildBinary(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("debootstrap not installed (apt-get install debootstrap; scripts/install-deps.sh does)")
	}
	backends := availableBackends(t, bin, "process", "runc")
	if len(backends) == 0 {
		t.Skip("neither process nor runc is available")
	}
	cache := filepath.Join(t.TempDir(), "images")
	build := exec.Command(bin, "image", "build", "--preset", "tools", "--cache", cache)
	var stdout, stderr bytes.Buffer
	build.Stdout, build.Stderr = &stdout, &stderr
	if err := build.Run(); err != nil {
		t.Fatalf("image build: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "tools@") || !strings.Contains(stderr.String(), "Retrieving") {
		t.Errorf("image build printed %q (progress: %d bytes)", stdout.String(), stderr.Len())
	}
	// Built once: a second build finds it.
	again, err := exec.Command(bin, "image", "build", "--preset", "tools", "--cache", cache).CombinedOutput()
	if err != nil || strings.Contains(string(again), "debootstrap") {
		t.Errorf("second build: %v\n%s", err, again)
	}
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".build-") {
			t.Errorf("build left %s", e.Name())
		}
	}
	if m, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(m, []byte(cache)) {
		t.Errorf("a mount under the cache outlived the build:\n%s", m)
	}

	out := filepath.Join(t.TempDir(), "out")
	run := exec.Command(bin, "run", "--probe-timeout", "30s", "--backends", strings.Join(backends, ","),
		"--workloads", "sysbench-cpu,fio", "--quick", "--reps", "1", "--warmup", "0", "--image-cache", cache, "--out", out)
	stderr.Reset()
	stdout.Reset()
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	res, err := result.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if gi := res.Config.GuestImage; gi == nil || gi.Preset != "tools" || gi.Packages["sysbench"] == "" {
		t.Errorf("the run does not record its guest image: %+v", gi)
	}
	measured := map[string]bool{}
	for _, s := range res.Samples {
		if s.Error != "" {
			t.Errorf("%s %s: %s", s.Backend, s.Workload, s.Error)
			continue
		}
		want := metric.SysbenchCPUEvents
		if s.Workload == "fio" {
			want = metric.FioSeqRead
		}
		if v, ok := s.Value(want); !ok || !(v > 0) {
			t.Errorf("%s %s: %s = %v, %v", s.Backend, s.Workload, want, v, ok)
		}
		measured[string(s.Backend)] = true
	}
	for _, b := range backends {
		if !measured[b] {
			t.Errorf("%s measured nothing", b)
		}
	}
	if !strings.Contains(stdout.String(), "sysbench.cpu.events_per_s") {
		t.Errorf("table lacks the tool's metric:\n%s", stdout.String())
	}
	checkClean(t, res.ID)
	if m, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(m, []byte(cache)) {
		t.Errorf("a mount of the image outlived the run:\n%s", m)
	}

	ls, err := exec.Command(bin, "image", "ls", "--cache", cache).CombinedOutput()
	if err != nil || !strings.Contains(string(ls), "tools@") || !strings.Contains(string(ls), "yes") {
		t.Errorf("image ls: %v\n%s", err, ls)
	}
	pruned, err := exec.Command(bin, "image", "prune", "--all", "--cache", cache).CombinedOutput()
	if err != nil || !strings.Contains(string(pruned), "1 removed") {
		t.Errorf("image prune: %v\n%s", err, pruned)
	}
	if left, _ := os.ReadDir(cache); len(left) > 1 { // the lock file stays
		t.Errorf("prune left %v", left)
	}
}

func TestImageAndSuiteFlagErrors(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"image", "build", "--preset", "huge"}, `--preset: preset: "huge" is not a preset (valid: standard, tools)`},
		{[]string{"image", "prune", "--unused", "-1h"}, "--unused: -1h0m0s is negative"},
		{[]string{"run", "--suite", "nope", "--out", t.TempDir() + "/o"}, `--suite: "nope" is not a suite (valid: microvm, thesis)`},
		{[]string{"run", "--suite", "thesis", "--workloads", "cpu", "--out", t.TempDir() + "/o"}, "--suite and --workloads: choose one"},
	}
	for _, tt := range tests {
		out, err := exec.Command(bin, tt.args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: %v\n%s\nwant exit %d and %q", tt.args, err, out, exitUsage, tt.want)
		}
	}
}

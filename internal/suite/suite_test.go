package suite

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/isobench/isobench/internal/backend/oci"
	_ "github.com/isobench/isobench/internal/backend/process"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Suite)
		want   string // "" means valid
	}{
		{"defaults", func(*Suite) {}, ""},
		{"zero reps", func(s *Suite) { s.Reps = 0 }, "reps: 0"},
		{"negative warmup", func(s *Suite) { s.Warmup = -1 }, "warmup: -1"},
		{"negative cpus", func(s *Suite) { s.Limits.CPUs = -1 }, "cpus: -1"},
		{"zero cpus", func(s *Suite) { s.Limits.CPUs = 0 }, "cpus: 0"},
		{"infinite cpus", func(s *Suite) { s.Limits.CPUs = math.Inf(1) }, "cpus: +Inf"},
		{"NaN cpus", func(s *Suite) { s.Limits.CPUs = math.NaN() }, "cpus: NaN"},
		{"quota below 1 ms", func(s *Suite) { s.Limits.CPUs = 0.001 }, "below 0.01"},
		{"tiny memory", func(s *Suite) { s.Limits.MemoryBytes = 1024 }, "memory: 1024"},
		{"negative memory", func(s *Suite) { s.Limits.MemoryBytes = -5 }, "memory: -5"},
		{"zero timeout", func(s *Suite) { s.Timeout = 0 }, "timeout"},
		{"unknown backend", func(s *Suite) { s.Backends = []string{"lxc"} }, `unknown backend "lxc" (valid: process, crun, runc, runsc-kvm, runsc-ptrace, runsc-systrap)`},
		{"grader with tools", func(s *Suite) { s.Workloads = []string{"grader", "sysbench-cpu"} }, "run them in separate runs"},
		{"unknown workload", func(s *Suite) { s.Workloads = []string{"fork"} }, `unknown workload "fork" (valid: coldstart, cpu, memory, syscall, spawn, fileio, fileio-rootfs, network, restore, scale, density, grader, sysbench-cpu, sysbench-fileio, fio, iperf3, oltp, http, cijob, or all)`},
		{"duplicate backend", func(s *Suite) { s.Backends = []string{"runc", "runc"} }, `"runc" listed twice`},
		{"no workloads", func(s *Suite) { s.Workloads = nil }, "workloads: none"},
		{"known backends", func(s *Suite) { s.Backends = []string{"process", "runsc-ptrace"} }, ""},
		{"bad launch mode", func(s *Suite) { s.LaunchMode = "fast" }, `oci-mode: "fast" is not one of [phased oneshot]`},
		{"oneshot", func(s *Suite) { s.LaunchMode = "oneshot" }, ""},
		{"short timeout is fine", func(s *Suite) { s.Timeout = time.Second }, ""},
		{"scale levels", func(s *Suite) { s.Workloads = []string{"scale-x1", "scale-x32"} }, ""},
		{"scale level zero", func(s *Suite) { s.Workloads = []string{"scale-x0"} }, `"scale-x0": the concurrency after scale-x must be 1 to 1024`},
		{"scale unexpanded", func(s *Suite) { s.Workloads = []string{"scale"} }, "must be expanded"},
		{"concurrency zero", func(s *Suite) { s.Concurrency = []int{1, 0} }, "concurrency: 0 is not allowed"},
		{"density batch", func(s *Suite) { s.DensityBatch = 0 }, "density-batch: 0"},
		{"density max", func(s *Suite) { s.DensityMax = 0 }, "density-max: 0"},
		{"negative budget", func(s *Suite) { s.MemoryBudget = -1 }, "memory-budget: -1"},
		{"density", func(s *Suite) { s.Workloads = []string{"density"} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Defaults()
			tc.modify(&s)
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"512MiB", 512 << 20, false}, {"1GiB", 1 << 30, false}, {"1G", 1 << 30, false},
		{"256M", 256 << 20, false}, {"4096", 4096, false}, {"1.5GiB", 3 << 29, false},
		{"64 KiB", 64 << 10, false}, {"lots", 0, true}, {"-1MiB", 0, true}, {"", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestExpandScaleAndAll(t *testing.T) {
	got := ExpandScale([]string{"coldstart", "scale", "density"}, []int{1, 4})
	if want := []string{"coldstart", "scale-x1", "scale-x4", "density"}; !slices.Equal(got, want) {
		t.Errorf("ExpandScale = %v, want %v", got, want)
	}
	all := ExpandWorkloads([]string{AllWorkloads})
	if slices.Contains(all, "scale") || slices.Contains(all, "density") || !slices.Contains(all, "restore") {
		t.Errorf("all = %v: want every per-sandbox workload, not scale or density", all)
	}
}

// Package conformance launches every registered backend for real and checks
// the Backend contract: ready frame, requests, timeouts, crashes, cleanup.
// A backend that is unavailable here is skipped with its reason and fix.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/backend"
	_ "github.com/isobench/isobench/internal/backend/cloudhypervisor"
	_ "github.com/isobench/isobench/internal/backend/docker"
	_ "github.com/isobench/isobench/internal/backend/firecracker"
	_ "github.com/isobench/isobench/internal/backend/oci"
	_ "github.com/isobench/isobench/internal/backend/process"
	_ "github.com/isobench/isobench/internal/backend/qemu"
	"github.com/isobench/isobench/internal/runner"
	"github.com/isobench/isobench/internal/testutil"
)

var agentPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "isobench-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentPath, err = testutil.BuildIsobench(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var limits = backend.Limits{CPUs: 1, MemoryBytes: 256 << 20}

// unavailable remembers backends found unavailable, so that later tests
// skip them at once instead of probing again (a hanging probe, such as
// runsc-kvm's on a nested host, costs its whole timeout each time).
var unavailable = struct {
	sync.Mutex
	err map[backend.Name]error
}{err: map[backend.Name]error{}}

// construct builds one backend in a fresh work dir, skipping if unavailable.
func construct(t *testing.T, reg backend.Registration) (backend.Backend, backend.Env) {
	t.Helper()
	testutil.RequireRoot(t)
	runID := fmt.Sprintf("t%07x", time.Now().UnixNano()&0xfffffff)
	env := backend.Env{AgentPath: agentPath, WorkDir: filepath.Join(t.TempDir(), runID), RunID: runID, ProbeTimeout: 20 * time.Second}
	if err := os.MkdirAll(env.WorkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	unavailable.Lock()
	known := unavailable.err[reg.Name]
	unavailable.Unlock()
	var b backend.Backend
	err := known
	if known == nil {
		b, err = reg.New(context.Background(), env)
	}
	if errors.Is(err, backend.ErrUnavailable) {
		unavailable.Lock()
		unavailable.err[reg.Name] = err
		unavailable.Unlock()
		reason, fix := backend.Explain(err)
		// CI names the backends its machine must run, so that a broken
		// backend fails the build instead of hiding behind a skip.
		if slices.Contains(strings.Split(os.Getenv("ISOBENCH_REQUIRE_BACKENDS"), ","), string(reg.Name)) {
			t.Fatalf("%s is required (ISOBENCH_REQUIRE_BACKENDS) but unavailable: %s (fix: %s)", reg.Name, reason, fix)
		}
		t.Skipf("%s unavailable here: %s (fix: %s)", reg.Name, reason, fix)
	}
	if err != nil {
		t.Fatalf("construct %s: %v", reg.Name, err)
	}
	t.Cleanup(func() {
		if sw, ok := b.(backend.Sweeper); ok {
			if ids, _ := sw.Sweep(context.Background()); len(ids) > 0 {
				t.Errorf("containers left behind: %v", ids)
			}
		}
		if err := os.RemoveAll(env.WorkDir); err != nil {
			t.Error(err)
		}
		if leaks := runner.Leaks(env.WorkDir, backend.IDPrefix+env.RunID); len(leaks) > 0 {
			t.Errorf("leaks after %s: %v", reg.Name, leaks)
		}
	})
	return b, env
}

func forEachBackend(t *testing.T, f func(t *testing.T, b backend.Backend, env backend.Env)) {
	for _, reg := range backend.Registrations() {
		t.Run(string(reg.Name), func(t *testing.T) {
			b, env := construct(t, reg)
			f(t, b, env)
		})
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func launch(t *testing.T, ctx context.Context, b backend.Backend, env backend.Env, suffix string, l backend.Limits) backend.Sandbox {
	t.Helper()
	sb, err := b.Launch(ctx, backend.Spec{ID: backend.IDPrefix + env.RunID + "-" + suffix, Limits: l})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	return sb
}

func TestLaunchRunClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		ctx := testContext(t)
		sb := launch(t, ctx, b, env, "1", limits)
		res, err := sb.Run(ctx, agent.Request{Workload: "noop"})
		if err != nil || res.Workload != "noop" {
			t.Fatalf("run noop: %+v, %v", res, err)
		}
		if _, err := sb.Run(ctx, agent.Request{Workload: "no-such"}); err == nil || !strings.Contains(err.Error(), "unknown workload") {
			t.Fatalf("unknown workload: err = %v", err)
		}
		st, err := sb.Stats(ctx)
		if err != nil || len(st.HostPIDs) == 0 || st.HostPIDs[0] <= 0 {
			t.Fatalf("stats: %+v, %v", st, err)
		}
		if err := sb.Close(ctx); err != nil {
			t.Fatalf("close: %v", err)
		}
		// Every host process of the sandbox (runtime helpers, shims, the
		// VMM) is gone once Close returns.
		for _, pid := range st.HostPIDs {
			if !backend.WaitGone(pid, 0) {
				t.Errorf("sandbox process %d (of %v) still alive after Close", pid, st.HostPIDs)
			}
		}
		tl := sb.Timeline()
		r := tl.Ready()
		if r == nil || r.StartToReadyNano <= 0 {
			t.Fatalf("no agent clock points: %+v", r)
		}
		cold, ok := tl.Since(backend.PhaseReady)
		if !ok || cold <= 0 || cold > 30*time.Second {
			t.Fatalf("cold start %v, %v", cold, ok)
		}
		var sum time.Duration
		var names []string
		for _, p := range tl.Phases() {
			if p.Duration < 0 {
				t.Fatalf("negative phase %+v", p)
			}
			sum += p.Duration
			names = append(names, string(p.Phase))
		}
		total, _ := tl.Since(backend.PhaseDelete)
		if sum != total {
			t.Fatalf("phases %v sum to %v, launch→teardown is %v", names, sum, total)
		}
		t.Logf("%s: cold start %v, phases %v", b.Name(), cold, tl.Phases())
	})
}

// A hung workload: the sample's context expires; Close must still remove
// everything, and quickly.
func TestHungSandboxIsRemoved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		sb := launch(t, testContext(t), b, env, "hang", limits)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := sb.Run(ctx, agent.Request{Workload: "sleep"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung run: err = %v, want deadline exceeded", err)
		}
		start := time.Now()
		if err := sb.Close(ctx); err != nil { // ctx is already expired on purpose
			t.Fatalf("close after timeout: %v", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("close of a hung sandbox took %v", d)
		}
	})
}

// A crashed sandbox: its agent is killed from outside.
func TestCrashedSandboxIsRemoved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		ctx := testContext(t)
		sb := launch(t, ctx, b, env, "crash", limits)
		st, err := sb.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(st.HostPIDs[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Run(ctx, agent.Request{Workload: "noop"}); err == nil {
			t.Fatal("run on a killed agent succeeded")
		}
		if err := sb.Close(ctx); err != nil {
			t.Fatalf("close after crash: %v", err)
		}
	})
}

// A launch cancelled part-way leaves nothing behind.
func TestCancelledLaunchLeavesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		for i, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			sb, err := b.Launch(ctx, backend.Spec{ID: fmt.Sprintf("%s%s-cancel%d", backend.IDPrefix, env.RunID, i), Limits: limits})
			cancel()
			if err == nil {
				if err := sb.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestLimitsAreApplied(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend.Backend, env backend.Env) {
		ctx := testContext(t)
		if k := b.Info().Kind; k == backend.KindVM || k == backend.KindMicroVM {
			// A VM's limits are its machine: whole vCPUs and guest RAM.
			sb := launch(t, ctx, b, env, "limits", backend.Limits{CPUs: 1.5, MemoryBytes: 300 << 20})
			defer sb.Close(ctx)
			r := sb.Timeline().Ready()
			if r.NumCPU != 2 {
				t.Errorf("guest sees %d CPUs, want 2 (1.5 rounded up)", r.NumCPU)
			}
			if r.MemTotalBytes > 300<<20 || r.MemTotalBytes < 200<<20 {
				t.Errorf("guest MemTotal %d, want a little under 300 MiB", r.MemTotalBytes)
			}
			return
		}
		sb := launch(t, ctx, b, env, "limits", backend.Limits{CPUs: 0.5, MemoryBytes: 300 << 20})
		id := backend.IDPrefix + env.RunID + "-limits"
		defer sb.Close(ctx)
		mem, quota := readLimits(t, cgroupOf(t, ctx, sb, id))
		if mem != 300<<20 {
			t.Errorf("memory limit %d, want %d", mem, 300<<20)
		}
		if quota != "50000 100000" {
			t.Errorf("cpu quota/period %q, want \"50000 100000\"", quota)
		}
	})
}

// cgroupOf is the sandbox's cgroup below each hierarchy: /id where
// isobench names it, else (Docker names it after its container id) the
// memory cgroup of the sandbox's first host process.
func cgroupOf(t *testing.T, ctx context.Context, sb backend.Sandbox, id string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", id)); err == nil {
		return id
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", id)); err == nil {
		return id
	}
	st, err := sb.Stats(ctx)
	if err != nil || len(st.HostPIDs) == 0 {
		t.Fatalf("no cgroup named %s and no host process to find one: %v", id, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.HostPIDs[0]))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (slices.Contains(strings.Split(f[1], ","), "memory") || backend.CgroupLayout() == "v2" && f[0] == "0") {
			return strings.TrimPrefix(f[2], "/")
		}
	}
	t.Fatalf("no memory cgroup in /proc/%d/cgroup: %s", st.HostPIDs[0], b)
	return ""
}

// readLimits reads the memory limit and "quota period" of cgroup id on a v1,
// hybrid or v2 host.
func readLimits(t *testing.T, id string) (int64, string) {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read limit: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	if backend.CgroupLayout() == "v2" {
		var mem int64
		fmt.Sscan(read(filepath.Join("/sys/fs/cgroup", id, "memory.max")), &mem)
		return mem, read(filepath.Join("/sys/fs/cgroup", id, "cpu.max"))
	}
	var mem int64
	fmt.Sscan(read(filepath.Join("/sys/fs/cgroup/memory", id, "memory.limit_in_bytes")), &mem)
	q := read(filepath.Join("/sys/fs/cgroup/cpu", id, "cpu.cfs_quota_us"))
	p := read(filepath.Join("/sys/fs/cgroup/cpu", id, "cpu.cfs_period_us"))
	return mem, q + " " + p
}

package grader

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// hostile submissions and what a correct service makes of them.
var hostile = []struct {
	name    string
	command string
	timeout float64   // seconds
	verdict []Verdict // any of these
	message string
	// process: whether the native process (no isolation) can contain it.
	process bool
}{
	{"endless loop", "while :; do :; done", 4, []Verdict{VerdictTimeLimit}, "time limit", true},
	// A fork bomb: the task limit stops it from growing, the time limit
	// ends it, and the sandbox's destruction takes every task with it.
	{"fork bomb", `b() { b | b & }; b; sleep 60`, 4, []Verdict{VerdictTimeLimit, VerdictTaskLimit, VerdictMemoryLimit}, "", true},
	// More time: on a loaded machine reaching the memory limit can take
	// longer than the others' 4 s.
	{"unbounded allocation", `awk 'BEGIN { s = "x"; while (1) { s = s s; a[n++] = s } }'`, 15, []Verdict{VerdictMemoryLimit}, "", true},
	// The job's directory is on memory (tmpfs, or a VM's RAM), charged to
	// the sandbox: filling it hits the memory limit or ENOSPC.
	{"disk fill", `dd if=/dev/zero of=fill bs=1M count=100000; echo "dd ended: $?"; sleep 60`, 4, []Verdict{VerdictTimeLimit, VerdictMemoryLimit}, "", false},
	{"output flood", `yes isobench-output-flood`, 4, []Verdict{VerdictTimeLimit}, "output truncated", true},
}

// TestContainment runs hostile submissions beside a well-behaved one on
// every backend available here: each is stopped by a limit and reported
// as such, the good one passes, and nothing is left behind.
func TestContainment(t *testing.T) {
	for _, name := range []backend.Name{"process", "runc", "crun", "runsc-ptrace", "docker", "qemu-microvm"} {
		t.Run(string(name), func(t *testing.T) {
			b, prefix := testBackend(t, name)
			_, c := startService(t, b, prefix, filepath.Join(t.TempDir(), "grader.db"), ModeCold)
			var wg sync.WaitGroup
			for _, h := range hostile {
				if name == "process" && !h.process {
					t.Logf("%s: not run on the native process, the unisolated baseline: its job directory is on the host's disk, which only the time limit bounds", h.name)
					continue
				}
				wg.Go(func() {
					sub := submitAndWait(t, c, submitRequest{Command: h.command, TimeoutS: h.timeout})
					ok := false
					for _, v := range h.verdict {
						ok = ok || sub.Verdict == v
					}
					if !ok || !strings.Contains(sub.Message, h.message) {
						t.Errorf("%s: verdict %s (%s), want one of %v with %q; log: %.300s", h.name, sub.Verdict, sub.Message, h.verdict, h.message, getLog(t, c, sub.ID))
					}
					if sub.Phases == nil || sub.Phases.Tests > h.timeout+5 {
						t.Errorf("%s: ran %+v, past its %v s limit", h.name, sub.Phases, h.timeout)
					}
					t.Logf("%s: %s (%s) in %.1f s", h.name, sub.Verdict, sub.Message, sub.Phases.Tests)
				})
			}
			// A well-behaved submission during all that still passes.
			wg.Go(func() {
				job, _ := NewJob("unit")
				sub := submitAndWait(t, c, submitRequest{Command: job.Command, Files: job.Files})
				if sub.Verdict != VerdictPassed || !strings.Contains(getLog(t, c, sub.ID), job.ExpectLog) {
					t.Errorf("well-behaved job beside the hostile ones: %s (%s)", sub.Verdict, sub.Message)
				}
			})
			wg.Wait()
			var health map[string]any
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.do(ctx, "GET", "/healthz", nil, &health); err != nil {
				t.Errorf("service unhealthy after the hostile jobs: %v", err)
			}
		})
	}
}

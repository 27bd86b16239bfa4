package workload

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

func spawnSpec() Spec {
	return Spec{
		ID:          Spawn,
		Description: "fork+exec+wait of a tiny static program inside the sandbox",
		Params: []Param{
			{Name: "duration", Default: "2s", Quick: "300ms", Help: "how long to keep spawning"},
			{Name: "dir", Default: "", Help: "where the tiny program is written (must allow exec); default $TMPDIR or /tmp"},
		},
		Metrics: []metric.Name{metric.SpawnForkExecWait},
		Parse: func(p Params) (Runner, error) {
			w := SpawnBench{Duration: p.Duration("duration", time.Millisecond), Dir: p.String("dir")}
			return w, p.Err()
		},
	}
}

// SpawnBench times process creation in the sandbox.
type SpawnBench struct {
	Duration time.Duration
	Dir      string
}

func (w SpawnBench) Run(ctx context.Context) (Output, error) {
	var out Output
	prog, err := tinyELF()
	if err != nil {
		return out, err
	}
	path := filepath.Join(cmp.Or(w.Dir, os.TempDir()), fmt.Sprintf("isobench-true-%d", os.Getpid()))
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		return out, fmt.Errorf("spawn: write %s: %w", path, err)
	}
	defer os.Remove(path)
	argv := []string{path}
	attr := &syscall.ProcAttr{Env: []string{}}
	n := 0
	start := time.Now()
	for time.Since(start) < w.Duration {
		// Go's ForkExec clones with CLONE_VFORK|CLONE_VM: the fork path a
		// modern runtime (or posix_spawn) takes.
		pid, err := syscall.ForkExec(path, argv, attr)
		if err != nil {
			return out, fmt.Errorf("spawn: exec %s: %w", path, err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return out, fmt.Errorf("spawn: wait: %w", err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return out, fmt.Errorf("spawn: tiny program ended with %v", ws)
		}
		n++
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	out.add(metric.SpawnForkExecWait, metric.Seconds, time.Since(start).Seconds()/float64(n))
	return out, nil
}

package workload

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/metric"
)

func syscallSpec() Spec {
	return Spec{
		ID:          Syscall,
		Description: "cost of a trivial syscall (getpid), of open+close, and of a pipe round trip between two threads",
		Params: []Param{
			{Name: "duration", Default: "1s", Quick: "250ms", Help: "time per operation"},
			{Name: "dir", Default: "", Help: "where open/close's file is created; default $TMPDIR or /tmp (a tmpfs in every backend)"},
		},
		Metrics: []metric.Name{metric.SyscallGetpid, metric.SyscallOpenClose, metric.SyscallPipeRTT},
		Parse: func(p Params) (Runner, error) {
			w := SyscallBench{Duration: p.Duration("duration", time.Millisecond), Dir: p.String("dir")}
			return w, p.Err()
		},
	}
}

// SyscallBench times system calls; gVisor pays most exactly here.
type SyscallBench struct {
	Duration time.Duration
	Dir      string
}

// batch is how many operations run between clock reads.
const batch = 256

// timeOps runs op in batches until d has passed; it returns seconds per op.
func timeOps(ctx context.Context, d time.Duration, op func() error) (float64, error) {
	n := 0
	start := time.Now()
	for {
		for range batch {
			if err := op(); err != nil {
				return 0, err
			}
		}
		n += batch
		if el := time.Since(start); el >= d {
			return el.Seconds() / float64(n), nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

func (w SyscallBench) Run(ctx context.Context) (Output, error) {
	lockThread()
	var out Output
	getpid, err := timeOps(ctx, w.Duration, func() error {
		// Raw: no Go runtime bookkeeping around the call.
		unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		return nil
	})
	if err != nil {
		return out, err
	}
	out.add(metric.SyscallGetpid, metric.Seconds, getpid)

	path := filepath.Join(cmp.Or(w.Dir, os.TempDir()), fmt.Sprintf("isobench-syscall-%d", os.Getpid()))
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		return out, fmt.Errorf("syscall: create %s: %w", path, err)
	}
	defer os.Remove(path)
	openClose, err := timeOps(ctx, w.Duration, func() error {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("syscall: open %s: %w", path, err)
		}
		return unix.Close(fd)
	})
	if err != nil {
		return out, err
	}
	out.add(metric.SyscallOpenClose, metric.Seconds, openClose)

	rtt, err := pipeRoundTrip(ctx, w.Duration)
	if err != nil {
		return out, err
	}
	out.add(metric.SyscallPipeRTT, metric.Seconds, rtt)
	return out, nil
}

// pipeRoundTrip bounces one byte between two threads over two blocking
// pipes (raw fds, not Go's poller), so each round trip is two writes, two
// reads and two thread wake-ups in the kernel under test.
func pipeRoundTrip(ctx context.Context, d time.Duration) (float64, error) {
	var ping, pong [2]int
	if err := unix.Pipe2(ping[:], unix.O_CLOEXEC); err != nil {
		return 0, fmt.Errorf("syscall: pipe: %w", err)
	}
	if err := unix.Pipe2(pong[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ping[0])
		unix.Close(ping[1])
		return 0, fmt.Errorf("syscall: pipe: %w", err)
	}
	echoDone := make(chan error, 1)
	go func() {
		lockThread()
		b := []byte{0}
		for {
			n, err := unix.Read(ping[0], b)
			if err != nil || n == 0 {
				echoDone <- err // end of input: the measurement is over
				return
			}
			if _, err := unix.Write(pong[1], b); err != nil {
				echoDone <- err
				return
			}
		}
	}()
	b := []byte{1}
	rtt, err := timeOps(ctx, d, func() error {
		if _, err := unix.Write(ping[1], b); err != nil {
			return fmt.Errorf("syscall: pipe write: %w", err)
		}
		if _, err := unix.Read(pong[0], b); err != nil {
			return fmt.Errorf("syscall: pipe read: %w", err)
		}
		return nil
	})
	unix.Close(ping[1])
	if echoErr := <-echoDone; err == nil && echoErr != nil {
		err = fmt.Errorf("syscall: pipe echo: %w", echoErr)
	}
	unix.Close(ping[0])
	unix.Close(pong[0])
	unix.Close(pong[1])
	return rtt, err
}

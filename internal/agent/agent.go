package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/workload"
)

// Main runs the agent: it writes a ready frame, then serves requests read from
// in until an exit request or the end of input. An exit request (or the end
// of input) also cancels a workload that is still running, so a host that
// gives up on a slow workload gets a prompt, clean exit. started is the
// earliest time the process could take (a package variable of main), so that
// start-to-ready includes flag parsing and every other setup step.
func Main(ctx context.Context, started time.Time, in io.Reader, out io.Writer) error {
	fw := NewFrameWriter(out)
	ready := time.Now()
	if err := fw.Write(Frame{Type: FrameReady, Ready: readyInfo(started, ready)}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	requests := make(chan Request)
	readErr := make(chan error, 1)
	go func() {
		defer close(requests)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var req Request
			if err := json.Unmarshal(line, &req); err != nil {
				req = Request{Op: "invalid", Workload: fmt.Sprintf("bad request %q: %v", truncate(string(line), 200), err)}
			}
			if req.Op == OpExit {
				cancel(errExitRequested) // stops a running workload at once
				return
			}
			select {
			case requests <- req:
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
		// The host is gone (or closed our input): nobody will read a result.
		cancel(errExitRequested)
	}()
	for req := range requests {
		var f Frame
		switch req.Op {
		case OpRun:
			f = run(ctx, req)
		case "invalid":
			f = Frame{Type: FrameError, Error: req.Workload}
		default:
			f = Frame{Type: FrameError, Error: fmt.Sprintf("unknown op %q (valid: run, exit)", req.Op)}
		}
		if context.Cause(ctx) == errExitRequested {
			return nil // the host no longer waits for this result
		}
		if err := fw.Write(f); err != nil {
			return err
		}
	}
	select {
	case err := <-readErr:
		if err != nil {
			return fmt.Errorf("read requests: %w", err)
		}
	default:
	}
	return nil
}

var errExitRequested = errors.New("exit requested")

func run(ctx context.Context, req Request) Frame {
	if req.V != ProtocolVersion {
		return Frame{Type: FrameError, Error: fmt.Sprintf("request protocol v%d, agent speaks v%d", req.V, ProtocolVersion)}
	}
	spec, err := workload.Lookup(workload.ID(req.Workload))
	if err != nil {
		return Frame{Type: FrameError, Error: err.Error()}
	}
	w, err := spec.New(req.Params)
	if err != nil {
		return Frame{Type: FrameError, Error: err.Error()}
	}
	start := time.Now()
	out, err := w.Run(ctx)
	end := time.Now()
	if err != nil {
		return Frame{Type: FrameError, Error: fmt.Sprintf("workload %s: %v", req.Workload, err)}
	}
	return Frame{Type: FrameResult, Result: &Result{
		Workload: req.Workload, Metrics: out.Values, Skipped: out.Skipped, Log: out.Log,
		StartUnixNano: start.UnixNano(), EndUnixNano: end.UnixNano(),
	}}
}

func readyInfo(started, ready time.Time) *Ready {
	r := &Ready{
		PID:              os.Getpid(),
		StartUnixNano:    started.UnixNano(),
		ReadyUnixNano:    ready.UnixNano(),
		StartToReadyNano: int64(ready.Sub(started)),
		NumCPU:           runtime.NumCPU(),
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		r.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	r.MemTotalBytes = memTotal()
	if IsGuestInit() {
		// Both clocks read together: the guest's uptime now, less the
		// time since the agent started, is its uptime at the start.
		uptime, now := bootTime(), time.Now()
		r.BootToStartNano = int64(uptime - now.Sub(started))
	}
	return r
}

// memTotal reads MemTotal from /proc/meminfo; 0 where /proc is absent.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

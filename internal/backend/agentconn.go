package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/isobench/isobench/internal/agent"
)

// AgentConn is the host's end of the agent protocol over any byte stream
// (pipes for processes and containers, a serial port or vsock for VMs).
type AgentConn struct {
	stdin  io.WriteCloser
	frames chan agent.Frame
	done   chan struct{} // closed when the agent's output ends
	reader *agent.FrameReader
	src    io.Reader
	errMu  sync.Mutex
	err    error // why the output ended, if not a clean EOF
	stderr *TailBuffer
}

// NewAgentConn starts reading frames from stdout. stderr may be nil; when
// set, its tail is quoted in errors.
func NewAgentConn(stdin io.WriteCloser, stdout io.Reader, stderr *TailBuffer) *AgentConn {
	c := &AgentConn{
		stdin:  stdin,
		frames: make(chan agent.Frame, 4),
		done:   make(chan struct{}),
		reader: agent.NewFrameReader(stdout),
		src:    stdout,
		stderr: stderr,
	}
	go c.read()
	return c
}

func (c *AgentConn) read() {
	defer close(c.done)
	defer close(c.frames)
	for {
		f, err := c.reader.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			c.errMu.Lock()
			c.err = err
			c.errMu.Unlock()
			if errors.Is(err, agent.ErrProtocol) {
				continue // a garbled line; later frames may still be good
			}
			// Keep draining so the agent never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, c.src)
			return
		}
		c.frames <- f
	}
}

// WaitReady waits for the ready frame.
func (c *AgentConn) WaitReady(ctx context.Context) (*agent.Ready, error) {
	f, err := c.next(ctx, "ready frame")
	if err != nil {
		return nil, err
	}
	if f.Type == agent.FrameError {
		return nil, fmt.Errorf("agent failed to start: %s", f.Error)
	}
	if f.Type != agent.FrameReady || f.Ready == nil {
		return nil, fmt.Errorf("%w: expected ready frame, got %q", agent.ErrProtocol, f.Type)
	}
	return f.Ready, nil
}

// Run sends one request and waits for its result.
func (c *AgentConn) Run(ctx context.Context, req agent.Request) (*agent.Result, error) {
	req.Op = agent.OpRun
	line, err := agent.EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.stdin.Write(line); err != nil {
		return nil, fmt.Errorf("send %s request to agent: %w%s", req.Workload, err, c.diagnostics())
	}
	f, err := c.next(ctx, req.Workload+" result")
	if err != nil {
		return nil, err
	}
	switch {
	case f.Type == agent.FrameError:
		return nil, fmt.Errorf("agent: %s", f.Error)
	case f.Type != agent.FrameResult || f.Result == nil:
		return nil, fmt.Errorf("%w: expected result frame, got %q", agent.ErrProtocol, f.Type)
	}
	return f.Result, nil
}

// Exit asks the agent to exit and waits until its output ends.
func (c *AgentConn) Exit(ctx context.Context) error {
	line, _ := agent.EncodeRequest(agent.Request{Op: agent.OpExit})
	// A write error means the agent is already gone; waiting tells.
	_, _ = c.stdin.Write(line)
	_ = c.stdin.Close()
	return c.WaitClosed(ctx)
}

// WaitClosed waits until the agent's output ends.
func (c *AgentConn) WaitClosed(ctx context.Context) error {
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("agent did not exit: %w", ctx.Err())
		}
	}
}

// CloseInput closes the agent's stdin; idempotent.
func (c *AgentConn) CloseInput() { _ = c.stdin.Close() }

// Done is closed when the agent's output has ended.
func (c *AgentConn) Done() <-chan struct{} { return c.done }

func (c *AgentConn) next(ctx context.Context, what string) (agent.Frame, error) {
	select {
	case f, ok := <-c.frames:
		if ok {
			return f, nil
		}
		c.errMu.Lock()
		err := c.err
		c.errMu.Unlock()
		if err != nil {
			return agent.Frame{}, fmt.Errorf("waiting for %s: %w%s", what, err, c.diagnostics())
		}
		return agent.Frame{}, fmt.Errorf("agent exited before its %s%s", what, c.diagnostics())
	case <-ctx.Done():
		return agent.Frame{}, fmt.Errorf("waiting for %s: %w%s", what, context.Cause(ctx), c.diagnostics())
	}
}

// diagnostics quotes what the sandbox printed besides frames.
func (c *AgentConn) diagnostics() string {
	var parts []string
	if n := c.reader.Noise(); n != "" {
		parts = append(parts, "output: "+n)
	}
	if c.stderr != nil {
		if s := c.stderr.String(); s != "" {
			parts = append(parts, "stderr: "+s)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// TailBuffer keeps the last bytes written to it; safe for concurrent use.
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// NewTailBuffer keeps at most max bytes.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// String returns the kept bytes, trimmed.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

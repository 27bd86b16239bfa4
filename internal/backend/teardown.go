package backend

import (
	"context"
	"errors"
	"time"
)

// ContainerTeardown closes a container sandbox the same way in every
// container backend, so that their exit and delete phases mean the same:
// the agent is asked to exit (and killed if it has not within ExitGrace),
// the runtime removes the container, and then the network link goes (like
// its setup, that is not the runtime's teardown and is not timed).
type ContainerTeardown struct {
	Conn       *AgentConn
	Timeline   *Timeline
	ExitGrace  time.Duration
	Kill       func(ctx context.Context)
	Remove     func(ctx context.Context) error
	RemoveLink func(ctx context.Context) error
}

// Run tears down, even when ctx is already cancelled, marking PhaseExit
// and PhaseDelete.
func (t ContainerTeardown) Run(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	exitCtx, cancel := context.WithTimeout(ctx, t.ExitGrace)
	err := t.Conn.Exit(exitCtx)
	cancel()
	if err != nil {
		t.Kill(ctx)
	}
	t.Timeline.Mark(PhaseExit)
	err = t.Remove(ctx)
	t.Timeline.Mark(PhaseDelete)
	return errors.Join(err, t.RemoveLink(ctx))
}

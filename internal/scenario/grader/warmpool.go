package grader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// warmPool keeps up to size idle, ready sandboxes. Each is handed out once
// and replaced behind the job that took it. Every slot launches on its
// own, so the pool refills as fast as cold mode launches (size at once).
type warmPool struct {
	size    int
	backend backend.Backend
	next    func() backend.Spec
	log     *slog.Logger

	ready  chan warmSandbox
	refill chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	lastErr error // the latest failed launch, for a job that waits in vain
}

type warmSandbox struct {
	sb   backend.Sandbox
	spec backend.Spec
}

// warmWait bounds a job's wait for a pool sandbox: a backend that keeps
// failing to launch fails the job with the launch error, as cold mode does.
const warmWait = 2 * time.Minute

// maxWarmBackoff caps the pause between a filler's failed launches.
const maxWarmBackoff = 30 * time.Second

func newWarmPool(size int, b backend.Backend, next func() backend.Spec, log *slog.Logger) *warmPool {
	return &warmPool{size: size, backend: b, next: next, log: log,
		ready: make(chan warmSandbox, size), refill: make(chan struct{}, size)}
}

// start launches one filler per slot.
func (p *warmPool) start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	for range p.size {
		p.wg.Go(func() { p.fill(ctx) })
		p.refill <- struct{}{}
	}
}

func (p *warmPool) fill(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.refill:
		}
		backoff := time.Second
		for {
			spec := p.next()
			sb, err := p.backend.Launch(ctx, spec)
			p.mu.Lock()
			p.lastErr = err // a success clears an old failure
			p.mu.Unlock()
			if err == nil {
				p.ready <- warmSandbox{sb, spec} // never blocks: at most size exist
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.log.Error("warm pool: launch", "sandbox", spec.ID, "err", err, "retry_in", backoff)
			// Try again, without hammering a broken backend.
			sleep(ctx, backoff)
			backoff = min(2*backoff, maxWarmBackoff)
		}
	}
}

// take hands out a ready sandbox, waiting for one if the pool is empty.
func (p *warmPool) take(ctx context.Context) (backend.Sandbox, backend.Spec, error) {
	t := time.NewTimer(warmWait)
	defer t.Stop()
	select {
	case w := <-p.ready:
		p.refill <- struct{}{}
		return w.sb, w.spec, nil
	case <-ctx.Done():
		return nil, backend.Spec{}, ctx.Err()
	case <-t.C:
		p.mu.Lock()
		last := p.lastErr
		p.mu.Unlock()
		if last == nil {
			return nil, backend.Spec{}, fmt.Errorf("warm pool: no sandbox ready within %s (no launch failed: the pool's launches are slower than the jobs take them)", warmWait)
		}
		return nil, backend.Spec{}, fmt.Errorf("warm pool: no sandbox ready within %s: last launch: %w", warmWait, last)
	}
}

// close stops the fillers and destroys the idle sandboxes.
func (p *warmPool) close() error {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	var errs []error
	for {
		select {
		case w := <-p.ready:
			errs = append(errs, w.sb.Close(context.Background()))
		default:
			return errors.Join(errs...)
		}
	}
}

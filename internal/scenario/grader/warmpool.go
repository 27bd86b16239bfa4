package grader

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// warmPool keeps up to size idle, ready sandboxes. Each is handed out once
// and replaced behind the job that took it.
type warmPool struct {
	size    int
	backend backend.Backend
	next    func() backend.Spec
	log     *slog.Logger

	ready  chan warmSandbox
	refill chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type warmSandbox struct {
	sb   backend.Sandbox
	spec backend.Spec
}

func newWarmPool(size int, b backend.Backend, next func() backend.Spec, log *slog.Logger) *warmPool {
	return &warmPool{size: size, backend: b, next: next, log: log,
		ready: make(chan warmSandbox, size), refill: make(chan struct{}, size)}
}

// start launches the pool's filler, which keeps size sandboxes ready.
func (p *warmPool) start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	for range p.size {
		p.refill <- struct{}{}
	}
	p.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.refill:
			}
			spec := p.next()
			sb, err := p.backend.Launch(ctx, spec)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				p.log.Error("warm pool: launch", "sandbox", spec.ID, "err", err)
				// Try again, but do not spin on a broken backend.
				sleep(ctx, time.Second)
				p.refill <- struct{}{}
				continue
			}
			p.ready <- warmSandbox{sb, spec}
		}
	})
}

// take hands out a ready sandbox, waiting for one if the pool is empty.
func (p *warmPool) take(ctx context.Context) (backend.Sandbox, backend.Spec, error) {
	select {
	case w := <-p.ready:
		p.refill <- struct{}{}
		return w.sb, w.spec, nil
	case <-ctx.Done():
		return nil, backend.Spec{}, ctx.Err()
	}
}

// close stops the filler and destroys the idle sandboxes.
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
